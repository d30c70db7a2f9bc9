//! `lb node drain | enable | status` (docs/fleet.md): this node behind the
//! router. `drain` withdraws every VIP from BGP, then waits until no flow
//! uses the node (its live flows: not closed, not idle past the idle
//! timeout, in a count of the flow table taken after the withdrawal reached
//! the router) and reports done; Ctrl-C stops waiting, the node stays drained.

use std::time::{Duration, Instant};

use super::{Exit, Output, Term, args::NodeCommand, print};
use crate::api::{
    client::{Client, ClientError},
    types::NodeStatus,
};

const POLL: Duration = Duration::from_millis(200);
const PLAIN_EVERY: Duration = Duration::from_secs(1);

pub async fn run(
    client: &Client,
    command: NodeCommand,
    term: &mut Term<'_>,
) -> Result<Exit, ClientError> {
    match command {
        NodeCommand::Status(o) => {
            let node = client.node(None).await?;
            print(term, o, &node, line)
        }
        NodeCommand::Enable(o) => {
            let node = client.node(Some("enable")).await?;
            print(term, o, &node, line)
        }
        NodeCommand::Drain(o) => drain(client, o, term).await,
    }
}

async fn drain(client: &Client, o: Output, term: &mut Term<'_>) -> Result<Exit, ClientError> {
    let mut node = client.node(Some("drain")).await?;
    let mut last = None::<Instant>;
    while node.live_flows > 0 || !node.counted_since_drain {
        if last.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            last = Some(Instant::now());
            let _ = writeln!(
                term.err,
                "draining node {}: VIPs withdrawn, {} live flows left",
                node.node, node.live_flows
            );
        }
        tokio::time::sleep(POLL).await;
        node = client.node(None).await?;
        if node.mode != "draining" {
            let _ = writeln!(
                term.err,
                "lb: node {} is {} now: its drain was undone",
                node.node, node.mode
            );
            return Ok(Exit::Failed);
        }
    }
    print(term, o, &node, |n| {
        format!(
            "node {} drained: no VIP announced, no flow uses it\n",
            n.node
        )
    })
}

fn line(n: &NodeStatus) -> String {
    let announced = if n.announced.is_empty() {
        "nothing".to_string()
    } else {
        n.announced.join(", ")
    };
    format!(
        "node {}: {}, announces {announced}, {} live flows\n",
        n.node, n.mode, n.live_flows
    )
}
