//! etcd's request counters (the fleet benchmark's etcd requests per drain),
//! from its Prometheus text (`/metrics` on the client port):
//! `grpc_server_handled_total` (unary calls handled, by method) and
//! `grpc_server_msg_received_total` (messages received on streams).

use std::collections::BTreeMap;

/// One reading of the counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EtcdCounters {
    /// Unary calls handled, by gRPC method.
    pub unary: BTreeMap<String, f64>,
    /// Messages received on client and bidi streams.
    pub stream_messages: f64,
}

impl EtcdCounters {
    pub fn parse(text: &str) -> EtcdCounters {
        let mut c = EtcdCounters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let Some((name, labels)) = series.split_once('{') else {
                continue;
            };
            let kind = label(labels, "grpc_type");
            match name {
                "grpc_server_handled_total" if kind == Some("unary") => {
                    let method = label(labels, "grpc_method").unwrap_or("?");
                    *c.unary.entry(method.to_owned()).or_default() += value;
                }
                "grpc_server_msg_received_total" if kind.is_some_and(|k| k != "unary") => {
                    c.stream_messages += value;
                }
                _ => {}
            }
        }
        c
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &EtcdCounters) -> EtcdCounters {
        let unary = self
            .unary
            .iter()
            .map(|(m, v)| (m.clone(), v - earlier.unary.get(m).copied().unwrap_or(0.0)))
            .collect();
        EtcdCounters {
            unary,
            stream_messages: self.stream_messages - earlier.stream_messages,
        }
    }

    pub fn unary_total(&self) -> f64 {
        self.unary.values().sum()
    }
}

/// The value of `key="value"` in a Prometheus label set.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP grpc_server_handled_total Total number of RPCs completed on the server.
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12
grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3
grpc_server_handled_total{grpc_code="OK",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 2
grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 40
grpc_server_msg_received_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 13
"#;

    #[test]
    // Whole counts parsed from text: exact comparisons are meant.
    #[allow(clippy::float_cmp)]
    fn counts_unary_calls_by_method_and_stream_messages() {
        let c = EtcdCounters::parse(TEXT);
        assert_eq!(c.unary.get("Range"), Some(&13.0));
        assert_eq!(c.unary.get("Txn"), Some(&3.0));
        assert_eq!(c.unary.get("Watch"), None, "a stream is not a unary call");
        assert_eq!(c.stream_messages, 40.0);
        assert_eq!(c.unary_total(), 16.0);
        let later = EtcdCounters::parse(&TEXT.replace("} 3\n", "} 7\n"));
        let d = later.since(&c);
        assert_eq!(d.unary_total(), 4.0);
        assert_eq!(d.stream_messages, 0.0);
    }
}
