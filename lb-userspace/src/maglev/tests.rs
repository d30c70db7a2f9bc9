//! Maglev's properties: spread, minimal disruption, weights, determinism.

use std::collections::HashMap;

use super::*;

const M: u32 = lb_common::maglev::DEFAULT_MAGLEV_SIZE;

fn names(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Backends with ids 0.. and weight 1 (or the given weights).
fn backends<'a>(names: &'a [String], weights: &[u32]) -> Vec<MaglevBackend<'a>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| MaglevBackend {
            id: i as u32,
            name,
            weight: weights.get(i).copied().unwrap_or(1),
        })
        .collect()
}

fn shares(table: &[u32]) -> HashMap<u32, usize> {
    let mut counts = HashMap::new();
    for &id in table {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Slots whose owner changed although neither owner is `except`.
fn moved_others(a: &[u32], b: &[u32], except: u32) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y && **x != except && **y != except)
        .count()
}

#[test]
fn hash_is_the_documented_one() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a64(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    // Seeds are the ASCII bytes their comments say.
    assert_eq!(SEED_OFFSET.to_be_bytes(), *b"lb-offse");
    assert_eq!(SEED_SKIP.to_be_bytes(), *b"lb-skipp");
    // Computed by an independent Python implementation of this file's doc.
    assert_eq!(name_hash(SEED_OFFSET, "web-1"), 0x49d1_aed6_6bb7_6722);
    assert_eq!(name_hash(SEED_SKIP, "web-1"), 0x7f4c_d908_0aae_fa93);
}

#[test]
fn tiny_table_derived_by_hand() {
    // Permutations (offset, skip) for M = 7: a (6, 5), b (1, 3), c (3, 1).
    // Round 1: a→6, b→1, c→3. Round 2: a→4, b: 4 taken → 0, c: 4 taken → 5.
    // Round 3: a: 4+5 = 9 % 7 = 2 → full.
    assert_eq!(permutation("a", 7), (6, 5));
    assert_eq!(permutation("b", 7), (1, 3));
    assert_eq!(permutation("c", 7), (3, 1));
    let n = ["a".to_string(), "b".to_string(), "c".to_string()];
    let mut bs = backends(&n, &[]);
    for b in &mut bs {
        b.id += 10;
    }
    assert_eq!(build_table(&bs, 7), vec![11, 11, 10, 12, 10, 12, 10]);
    // Weighted, from the same Python implementation.
    let n = ["x".to_string(), "y".to_string(), "z".to_string()];
    let t = build_table(&backends(&n, &[1, 2, 3]), 13);
    assert_eq!(t, vec![0, 1, 2, 2, 0, 2, 1, 1, 2, 2, 1, 2, 1]);
}

#[test]
fn primes() {
    let small: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
    assert_eq!(small, vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
    assert!(is_prime(65537) && is_prime(4_294_967_291) && is_prime(251));
    assert!(!is_prime(65536) && !is_prime(65535) && !is_prime(u32::MAX));
    assert!(!is_prime(65521 * 2) && !is_prime(251 * 257));
}

#[test]
fn empty_and_weightless_give_no_backend() {
    assert!(build_table(&[], M).iter().all(|&s| s == NO_BACKEND));
    let n = names(2, "w");
    let t = build_table(&backends(&n, &[0, 0]), 7);
    assert_eq!(t, vec![NO_BACKEND; 7]);
}

#[test]
#[should_panic(expected = "not prime")]
fn non_prime_size_panics() {
    let n = names(2, "w");
    build_table(&backends(&n, &[]), 65536);
}

#[test]
fn equal_backends_share_evenly() {
    for n in [1, 3, 10, 100] {
        let nm = names(n, "web");
        let table = build_table(&backends(&nm, &[]), M);
        let counts = shares(&table);
        assert!(!counts.contains_key(&NO_BACKEND), "table not full");
        assert_eq!(counts.len(), n);
        let ideal = f64::from(M) / n as f64;
        let worst = counts
            .values()
            .map(|&c| (c as f64 - ideal).abs() / ideal)
            .fold(0.0, f64::max);
        println!(
            "N={n}: ideal {ideal:.1} slots, worst deviation {:.4}%",
            worst * 100.0
        );
        assert!(worst <= 0.01, "N={n}: worst share deviation {worst}");
    }
}

#[test]
fn weighted_shares_follow_weights() {
    for weights in [vec![1, 2, 3], vec![1, 1, 5, 10], vec![1000, 1, 500]] {
        let nm = names(weights.len(), "w");
        let table = build_table(&backends(&nm, &weights), M);
        let counts = shares(&table);
        let total: u32 = weights.iter().sum();
        for (id, &w) in weights.iter().enumerate() {
            let got = counts.get(&(id as u32)).copied().unwrap_or(0) as f64;
            let ideal = f64::from(M) * f64::from(w) / f64::from(total);
            let dev = (got - ideal).abs() / ideal;
            println!(
                "weights {weights:?}: w={w} got {got} ideal {ideal:.1} ({:.4}%)",
                dev * 100.0
            );
            // Slots are whole: a share of under 100 slots may be off by one.
            assert!(
                (got - ideal).abs() <= (0.01 * ideal).max(1.0),
                "weight {w}: {got} slots vs {ideal:.1}"
            );
        }
    }
}

#[test]
fn removing_a_backend_moves_little_else() {
    for n in [10, 100, 1000] {
        let nm = names(n, "web");
        let all = backends(&nm, &[]);
        let before = build_table(&all, M);
        let gone = (n / 2) as u32;
        let rest: Vec<_> = all.iter().copied().filter(|b| b.id != gone).collect();
        let after = build_table(&rest, M);
        assert!(after.iter().all(|&s| s != gone && s != NO_BACKEND));
        // Every slot of the removed backend must move; others should stay.
        let moved = moved_others(&before, &after, gone);
        let frac = moved as f64 / f64::from(M);
        println!(
            "remove 1 of {n}: {moved} other slots moved ({:.3}% of M)",
            frac * 100.0
        );
        assert!(frac <= 0.01, "remove 1 of {n}: {frac}");
    }
}

#[test]
fn adding_a_backend_moves_little_else() {
    for n in [10, 100] {
        let nm = names(n + 1, "web");
        let all = backends(&nm, &[]);
        let before = build_table(&all[..n], M);
        let after = build_table(&all, M);
        let new = n as u32;
        let moved = moved_others(&before, &after, new);
        let frac = moved as f64 / f64::from(M);
        println!(
            "add 1 to {n}: {moved} other slots moved ({:.3}% of M)",
            frac * 100.0
        );
        assert!(frac <= 0.01, "add 1 to {n}: {frac}");
        let share = shares(&after)[&new] as f64 / (f64::from(M) / (n + 1) as f64);
        assert!((share - 1.0).abs() <= 0.01, "new backend's share {share}");
    }
}

#[test]
fn independent_of_input_order_and_repeatable() {
    let nm = names(50, "b");
    let weights: Vec<u32> = (0..50).map(|i| 1 + i % 7).collect();
    let forward = backends(&nm, &weights);
    let mut reversed = forward.clone();
    reversed.reverse();
    let mut shuffled = forward.clone();
    shuffled.rotate_left(17);
    shuffled.swap(3, 40);
    let t = build_table(&forward, M);
    assert_eq!(t, build_table(&forward, M));
    assert_eq!(t, build_table(&reversed, M));
    assert_eq!(t, build_table(&shuffled, M));
    // Ids are only labels: renumbering relabels the same slots.
    let renumbered: Vec<_> = forward
        .iter()
        .map(|b| MaglevBackend {
            id: 1000 - b.id,
            ..*b
        })
        .collect();
    let t2 = build_table(&renumbered, M);
    assert!(t.iter().zip(&t2).all(|(a, b)| *b == 1000 - *a));
}

#[test]
fn thousand_backends_build_fast() {
    let nm = names(1000, "backend");
    let weights: Vec<u32> = (0..1000u32).map(|i| 1 + i % 10).collect();
    for w in [&[][..], &weights[..]] {
        let bs = backends(&nm, w);
        let start = std::time::Instant::now();
        let table = build_table(&bs, M);
        let took = start.elapsed();
        println!("1000 backends, M={M}, weighted={}: {took:?}", !w.is_empty());
        assert!(table.iter().all(|&s| s != NO_BACKEND));
        // Generous: a debug build is ~10x slower than release.
        assert!(took.as_secs_f64() < 2.0, "took {took:?}");
    }
}
