//! What each key of docs/benchmarks.json holds. The tables are prose, so they
//! live as Markdown rows under bench/templates/keys/ (one `| `key` | meaning |`
//! row each); the report prints them and the tests hold every key of a part's
//! output to them.

/// Rows of a keys table; a key may stand for a family: `<x>` is any one
/// segment, `{a,b}` one of those listed.
#[derive(Clone, Copy)]
pub struct Keys(&'static str);

pub const RUN: Keys = Keys(include_str!("../templates/keys/run.md"));
pub const DATAPLANE: Keys = Keys(include_str!("../templates/keys/dataplane.md"));
pub const DATAPLANE_NAT: Keys = Keys(include_str!("../templates/keys/dataplane_nat.md"));
pub const MAGLEV: Keys = Keys(include_str!("../templates/keys/maglev.md"));
pub const E2E: Keys = Keys(include_str!("../templates/keys/e2e.md"));
pub const E2E_NAT: Keys = Keys(include_str!("../templates/keys/e2e_nat.md"));
pub const DRAIN: Keys = Keys(include_str!("../templates/keys/drain.md"));
pub const FLOWTABLE: Keys = Keys(include_str!("../templates/keys/flowtable.md"));
pub const FLEET: Keys = Keys(include_str!("../templates/keys/fleet.md"));
pub const FLEET_DRAIN_SET: Keys = Keys(include_str!("../templates/keys/fleet_drain_set.md"));

impl Keys {
    /// The table's rows, as Markdown.
    pub fn rows(self) -> &'static str {
        self.0
    }

    /// The key patterns: the first cell of every row, without its backticks.
    pub fn patterns(self) -> impl Iterator<Item = &'static str> {
        self.0.lines().filter_map(|row| {
            row.strip_prefix("| `")?
                .split_once("` | ")
                .map(|(key, _)| key)
        })
    }
}

/// True if documented key pattern `pattern` covers `path`: segments match
/// literally, `<x>` matches any one segment, `{a,b}` any of the listed ones.
#[cfg(test)]
pub fn covers(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = path.split('.').collect();
    p.len() == k.len()
        && p.iter().zip(&k).all(|(p, k)| {
            if p.starts_with('<') && p.ends_with('>') {
                true
            } else if let Some(alts) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                alts.split(',').any(|a| a == *k)
            } else {
                p == k
            }
        })
}

/// Every leaf path of a JSON value.
#[cfg(test)]
fn leaf_paths(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                leaf_paths(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Fails naming every leaf of `value` (the JSON of part `part`) that `keys`
/// (plus [`RUN`]) does not document.
#[cfg(test)]
pub fn assert_documented(part: &str, value: &serde_json::Value, keys: &[Keys]) {
    let mut paths = Vec::new();
    leaf_paths(part, value, &mut paths);
    let undocumented: Vec<&String> = paths
        .iter()
        .filter(|p| {
            !keys.iter().flat_map(|k| k.patterns()).any(|k| covers(k, p))
                && !RUN
                    .patterns()
                    .any(|k| covers(&k.replace("<part>", part), p))
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "undocumented keys: {undocumented:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(covers("a.<x>.c", "a.b.c"));
        assert!(covers("a.{b,d}.c", "a.d.c"));
        assert!(!covers("a.{b,d}.c", "a.e.c"));
        assert!(!covers("a.b", "a.b.c"));
    }

    #[test]
    fn every_table_has_rows_and_every_row_a_key() {
        for keys in [
            RUN,
            DATAPLANE,
            DATAPLANE_NAT,
            MAGLEV,
            E2E,
            E2E_NAT,
            DRAIN,
            FLOWTABLE,
            FLEET,
            FLEET_DRAIN_SET,
        ] {
            let rows = keys.rows().lines().count();
            assert!(rows > 0);
            assert_eq!(keys.patterns().count(), rows, "{}", keys.rows());
        }
    }
}
