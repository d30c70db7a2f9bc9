//! Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable Software
//! Network Load Balancer", NSDI 2016, section 3.4), with weights.
//!
//! Each backend walks its own permutation of the `M` slots and, taking turns
//! with the others, claims the next slot of its permutation that is still free,
//! until the table is full. A backend's permutation depends only on its *name*
//! (never on its id, on its position in the config, or on anything random), and
//! backends take their turns in name order, so every LB node with the same
//! config builds the same table: needed when several nodes share traffic
//! through ECMP and a flow may land on any of them.
//!
//! Weights: every backend starts with `max_weight / 2` credits; in each round
//! it earns `weight` credits and takes one turn per `max_weight` credits it
//! holds, so the heaviest backend takes one slot per round and a backend of
//! weight `w` takes `w / max_weight` on average.
//!
//! The hash (see [`name_hash`]) is fixed by this file and part of the on-wire
//! contract between LB nodes of different versions: changing it reshuffles
//! every flow that misses the flow table. [`tests`] pins it.

use lb_common::maglev::NO_BACKEND;

/// One backend as the table builder sees it. The caller passes only the
/// backends that may take new flows (ACTIVE for the live table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaglevBackend<'a> {
    /// What the table's slots hold (the `BACKENDS` map index).
    pub id: u32,
    /// Unique name: the only input of the backend's permutation.
    pub name: &'a str,
    /// Relative share of the slots; 0 means no slots at all.
    pub weight: u32,
}

/// Seeds of the two hashes of a name: `offset` and `skip` must be independent.
const SEED_OFFSET: u64 = 0x6c62_2d6f_6666_7365; // "lb-offse"
const SEED_SKIP: u64 = 0x6c62_2d73_6b69_7070; // "lb-skipp"

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`, starting from `basis` (the standard basis gives
/// the standard FNV-1a).
fn fnv1a64(basis: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(basis, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// MurmurHash3's 64-bit finaliser: FNV-1a's low bits are weak for short,
/// similar names ("web-1", "web-2"), and `% M` reads mostly low bits.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The stable hash of a backend name under `seed`:
/// `fmix64(FNV-1a-64 of the UTF-8 bytes, with basis FNV_OFFSET_BASIS ^ seed)`.
pub fn name_hash(seed: u64, name: &str) -> u64 {
    fmix64(fnv1a64(FNV_OFFSET_BASIS ^ seed, name.as_bytes()))
}

/// `(offset, skip)` of `name`'s permutation of `0..m`: slot `j` of the
/// permutation is `(offset + j * skip) % m`. With `m` prime and
/// `1 <= skip < m`, it visits every slot exactly once.
pub fn permutation(name: &str, m: u32) -> (u32, u32) {
    let m64 = u64::from(m);
    let offset = name_hash(SEED_OFFSET, name) % m64;
    let skip = if m > 1 {
        name_hash(SEED_SKIP, name) % (m64 - 1) + 1
    } else {
        1
    };
    // Both are < m, which is a u32.
    (offset as u32, skip as u32)
}

/// True if `n` is prime (trial division: fine for table sizes, at most ~65536
/// divisions for any u32).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let n = u64::from(n);
    let mut d = 3u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// Per backend in [`build_table`]: the next slot of its permutation to try,
/// its step, its credit. Stepping by addition keeps hashing and `%` out of
/// the loop.
struct Walker {
    id: u32,
    next: u32,
    skip: u32,
    weight: u64,
    credit: u64,
}

/// Builds one VIP's table of `m` slots, each holding a backend id.
///
/// The result does not depend on the order of `backends` nor on their ids
/// beyond the values stored. No backend (or only weight-0 ones) gives a table
/// full of [`NO_BACKEND`]; otherwise every slot holds a backend.
///
/// # Panics
/// If `m` is not prime: a permutation would then not visit every slot, and
/// the fill could never end. The config rejects such sizes.
pub fn build_table(backends: &[MaglevBackend<'_>], m: u32) -> Vec<u32> {
    assert!(is_prime(m), "Maglev table size {m} is not prime");
    let size = m as usize;
    let mut table = vec![NO_BACKEND; size];

    // Name order makes the turn order, hence the table, input-order independent.
    let mut order: Vec<&MaglevBackend<'_>> = backends.iter().filter(|b| b.weight > 0).collect();
    order.sort_unstable_by(|a, b| a.name.cmp(b.name).then(a.id.cmp(&b.id)));
    let Some(max_weight) = order.iter().map(|b| u64::from(b.weight)).max() else {
        return table;
    };

    let mut walkers: Vec<Walker> = order
        .iter()
        .map(|b| {
            let (offset, skip) = permutation(b.name, m);
            Walker {
                id: b.id,
                next: offset,
                skip,
                weight: u64::from(b.weight),
                // Half a turn up front rounds each share to the nearest slot
                // instead of down (a weight-1 backend next to a weight-1000 one
                // would otherwise lose most of a slot).
                credit: max_weight / 2,
            }
        })
        .collect();

    let mut filled = 0usize;
    while filled < size {
        for w in &mut walkers {
            w.credit += w.weight;
            if w.credit < max_weight {
                continue;
            }
            w.credit -= max_weight;
            // Claim the first free slot left in this backend's permutation.
            // One exists: the table is not full and the permutation is complete.
            while table[w.next as usize] != NO_BACKEND {
                w.next = step(w.next, w.skip, m);
            }
            table[w.next as usize] = w.id;
            w.next = step(w.next, w.skip, m);
            filled += 1;
            if filled == size {
                break;
            }
        }
    }
    table
}

/// `(pos + skip) % m` for `pos, skip < m`, without a division.
#[inline(always)]
fn step(pos: u32, skip: u32, m: u32) -> u32 {
    // u64: pos + skip may exceed u32::MAX when m is close to it.
    let next = u64::from(pos) + u64::from(skip);
    if next >= u64::from(m) {
        (next - u64::from(m)) as u32
    } else {
        next as u32
    }
}

#[cfg(test)]
mod tests;
