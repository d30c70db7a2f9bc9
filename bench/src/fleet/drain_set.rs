//! The shared drain set's cost per node (docs/fleet.md, "Shared drain
//! sets"), at 10k and 100k connections of the draining backend on one node:
//! what it takes in etcd, the time and etcd requests to publish it (the
//! node whose set it is) and to import it (every other node: read from etcd,
//! then written into its `DRAIN_FLOWS`), and to delete it when the drain
//! ends. Against a real etcd (Debian's etcd-server, in a namespace of its
//! own) through lb's own store code, and lb's real `DRAIN_FLOWS` (the
//! program loaded, not attached).

use std::{net::Ipv4Addr, time::Instant};

use anyhow::{Context as _, Result, ensure};
use lb_common::{addr::v4_mapped, flow::FlowKey, vip::PROTO_TCP};
use lb_lab::EtcdLab;
use lb_userspace::{
    cluster::{
        FleetStore,
        drain_set_store::EtcdCost,
        model::{KeyPrefix, NodeName, Revision},
    },
    dataplane::drain_import,
};
use serde::{Deserialize, Serialize};

use crate::{
    dataplane::setup::Lb,
    report::{Md, f},
    stats::Summary,
};

/// Connections per node in each case.
pub const SIZES: [u32; 2] = [10_000, 100_000];
/// Rounds of each timing.
pub const ROUNDS: usize = 5;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrainSetReport {
    pub cases: Vec<DrainSetCase>,
}

/// One node's set of `flows` IPv4 connections.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrainSetCase {
    pub flows: u32,
    pub chunks: u32,
    /// Encoded size of the chunks' values.
    pub value_bytes: u64,
    /// Values plus keys plus the manifest: what etcd holds for the set.
    pub etcd_bytes: u64,
    /// Puts to publish it (chunks, then the manifest).
    pub publish_requests: u64,
    pub publish_ms: Summary,
    /// Requests to import it on another node (manifests read, each chunk read).
    pub import_requests: u64,
    /// Read from etcd and decoded.
    pub read_ms: Summary,
    /// Written into DRAIN_FLOWS (`drain_import::import`).
    pub record_ms: Summary,
    /// Removed from DRAIN_FLOWS when the drain ends (`drain_import::remove`).
    pub remove_ms: Summary,
    /// Deleted from etcd (one transaction).
    pub delete_ms: Summary,
}

/// `n` IPv4 connections to 198.51.100.10:80 from 192.0.2.0/24, 65k ports each.
fn connections(n: u32) -> Vec<FlowKey> {
    let vip = v4_mapped(Ipv4Addr::new(198, 51, 100, 10).octets());
    (0..n)
        .map(|i| {
            let client = Ipv4Addr::new(192, 0, 2, 1 + (i / 60_000) as u8);
            let port = 1024 + (i % 60_000) as u16;
            FlowKey::new(
                v4_mapped(client.octets()),
                vip,
                port.to_be(),
                80u16.to_be(),
                PROTO_TCP,
            )
        })
        .collect()
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

pub fn run() -> Result<DrainSetReport> {
    let etcd = EtcdLab::up("lbbench").context("starting etcd in a namespace")?;
    let endpoint = etcd.endpoint();
    let mut lb = Lb::load()?;
    let mut cases = Vec::new();
    for flows in SIZES {
        eprintln!("fleet: drain set of {flows} connections, {ROUNDS} rounds");
        let keys = connections(flows);
        let endpoint = endpoint.clone();
        // The store's requests run inside etcd's namespace.
        let timed = etcd
            .ns()
            .run_inside(|| -> Result<EtcdFigures> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(etcd_rounds(&endpoint, &keys))
            })
            .context("entering etcd's namespace")??;
        let EtcdFigures {
            rounds,
            publish,
            import,
            chunks,
            etcd_bytes,
        } = timed;
        let mut record = Vec::new();
        let mut remove = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let done = drain_import::import(&lb.maps.flows, &mut lb.maps.drain_flows, 1, &keys);
            record.push(ms(t));
            ensure!(
                done.recorded.len() == keys.len(),
                "DRAIN_FLOWS took {} of {} connections",
                done.recorded.len(),
                keys.len()
            );
            let t = Instant::now();
            drain_import::remove(&mut lb.maps.drain_flows, 1, &done.recorded);
            remove.push(ms(t));
        }
        let pick = |f: fn(&Round) -> f64| -> Summary {
            Summary::rounded(&rounds.iter().map(f).collect::<Vec<_>>(), 2)
        };
        cases.push(DrainSetCase {
            flows,
            chunks,
            value_bytes: publish.bytes,
            etcd_bytes,
            publish_requests: publish.requests,
            publish_ms: pick(|r| r.publish),
            import_requests: import.requests,
            read_ms: pick(|r| r.read),
            record_ms: Summary::rounded(&record, 2),
            remove_ms: Summary::rounded(&remove, 2),
            delete_ms: pick(|r| r.delete),
        });
    }
    drop(etcd);
    Ok(DrainSetReport { cases })
}

/// One round's etcd timings, ms.
struct Round {
    publish: f64,
    read: f64,
    delete: f64,
}

/// What the etcd side of a case measured.
struct EtcdFigures {
    rounds: Vec<Round>,
    /// Of one publication and of one import.
    publish: EtcdCost,
    import: EtcdCost,
    chunks: u32,
    /// Values, keys and manifest.
    etcd_bytes: u64,
}

/// Publishes, reads back and deletes the set `ROUNDS` times.
async fn etcd_rounds(endpoint: &str, keys: &[FlowKey]) -> Result<EtcdFigures> {
    let prefix = KeyPrefix::new("/lbbench").map_err(anyhow::Error::msg)?;
    let store = FleetStore::connect(&[endpoint.to_owned()], prefix).await?;
    let node = NodeName::new("lb-1").map_err(anyhow::Error::msg)?;
    let mut rounds = Vec::new();
    let (mut publish, mut import, mut chunks, mut etcd_bytes) =
        (EtcdCost::default(), EtcdCost::default(), 0, 0);
    for round in 0..ROUNDS {
        let drain = Revision(i64::try_from(round).expect("a few rounds") + 1);
        let t = Instant::now();
        let (manifest, cost) = store.publish_drain_set("web-2", drain, &node, keys).await?;
        let publish_ms = ms(t);
        let t = Instant::now();
        let manifests = store.drain_set_manifests("web-2", drain).await?;
        let m = manifests.get(&node).context("the manifest is missing")?;
        let (back, mut read) = store.read_drain_set("web-2", drain, m).await?;
        read.requests += 1;
        let read_ms = ms(t);
        ensure!(
            back.len() == keys.len(),
            "read {} of {}",
            back.len(),
            keys.len()
        );
        let t = Instant::now();
        store.delete_drain_set("web-2", drain, &node).await?;
        let delete_ms = ms(t);
        rounds.push(Round {
            publish: publish_ms,
            read: read_ms,
            delete: delete_ms,
        });
        let keys_len: u64 = (0..manifest.chunks)
            .map(|i| store.keys().drain_set_chunk("web-2", drain, &node, i).len() as u64)
            .sum::<u64>()
            + store.keys().drain_set_manifest("web-2", drain, &node).len() as u64;
        let manifest_len = serde_json::to_vec(&manifest)?.len() as u64;
        (publish, import, chunks) = (cost, read, manifest.chunks);
        etcd_bytes = cost.bytes + keys_len + manifest_len;
    }
    Ok(EtcdFigures {
        rounds,
        publish,
        import,
        chunks,
        etcd_bytes,
    })
}

pub fn render(r: &DrainSetReport, md: &mut Md) {
    md.line("Shared drain set, per node (one node's set of IPv4 connections to one VIP):");
    md.blank();
    let ms = |s: &Summary| format!("{} ({}-{})", f(s.median, 1), f(s.min, 1), f(s.max, 1));
    let rows: Vec<[String; 9]> = r
        .cases
        .iter()
        .map(|c| {
            [
                c.flows.to_string(),
                format!("{} ({} chunks)", c.etcd_bytes, c.chunks),
                c.publish_requests.to_string(),
                ms(&c.publish_ms),
                c.import_requests.to_string(),
                ms(&c.read_ms),
                ms(&c.record_ms),
                ms(&c.remove_ms),
                ms(&c.delete_ms),
            ]
        })
        .collect();
    md.table(
        [
            "flows",
            "bytes in etcd",
            "publish: requests",
            "publish ms",
            "import: requests",
            "read ms",
            "into DRAIN_FLOWS ms",
            "removed ms",
            "deleted from etcd ms",
        ],
        &rows,
    );
}
