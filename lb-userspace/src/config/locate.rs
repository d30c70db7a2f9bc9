//! Where things are in the file: key paths like `vip[0].backend[1].address`,
//! and the mapping between them and byte offsets (hence lines).
//!
//! The serde parse keeps no positions, so on error the text is parsed again
//! with toml's span-preserving `DeTable` (in its error-tolerant mode, so even a
//! file with a syntax error yields the keys before and around it). Only done
//! on error: a valid file is parsed once.

use std::{fmt, ops::Range};

use toml::{
    Spanned,
    de::{DeTable, DeValue},
};

/// A dotted key path using the TOML's own names: `vip[0].backend[1].address`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Segment>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The document itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path followed by key `name`.
    pub fn key(&self, name: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(name.to_owned()));
        p
    }

    /// This path followed by array index `i`.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(i));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One key (or array element) of the document and where it is written.
struct Entry {
    path: KeyPath,
    /// The key itself; none for array elements.
    key: Option<Range<usize>>,
    /// The value; for a `[table]` or `[[array]]` element, its header.
    value: Range<usize>,
}

/// The positions of every key of a text.
pub struct Locator<'t> {
    text: &'t str,
    entries: Vec<Entry>,
    /// The text has TOML syntax errors (the entries are then partial).
    pub syntax_error: bool,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Self {
        let (doc, errors) = DeTable::parse_recoverable(text);
        let mut entries = Vec::new();
        walk_table(doc.get_ref(), &KeyPath::root(), &mut entries);
        Self {
            text,
            entries,
            syntax_error: !errors.is_empty(),
        }
    }

    /// 1-based line of byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        // n newlines cut the text into n + 1 lines.
        self.text.as_bytes()[..end].split(|&b| b == b'\n').count()
    }

    /// 1-based line where `path` is written: its key, or an array element's
    /// header. A path that is not in the file (a missing key, an element past
    /// the end) gives the line of its longest prefix that is.
    pub fn line_of_path(&self, path: &KeyPath) -> usize {
        let mut prefix = path.clone();
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == prefix) {
                let span = e.key.as_ref().unwrap_or(&e.value);
                return self.line_of(span.start);
            }
            if prefix.0.pop().is_none() {
                return 1;
            }
        }
    }

    /// The key path of what is written at byte `offset`: the deepest key or
    /// value containing it, else the last key written before it.
    pub fn path_at(&self, offset: usize) -> KeyPath {
        let contains = |r: &Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        let inside = self
            .entries
            .iter()
            .filter(|e| e.key.as_ref().is_some_and(contains) || contains(&e.value))
            .max_by_key(|e| (e.path.0.len(), usize::MAX - e.value.len()));
        let before = || {
            self.entries
                .iter()
                .filter(|e| e.key.as_ref().unwrap_or(&e.value).start <= offset)
                .max_by_key(|e| e.key.as_ref().unwrap_or(&e.value).start)
        };
        inside
            .or_else(before)
            .map_or_else(KeyPath::root, |e| e.path.clone())
    }
}

fn walk_table(table: &DeTable<'_>, path: &KeyPath, out: &mut Vec<Entry>) {
    for (key, value) in table {
        let p = path.key(key.get_ref());
        out.push(Entry {
            path: p.clone(),
            key: Some(key.span()),
            value: value.span(),
        });
        walk_value(value, &p, out);
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, path: &KeyPath, out: &mut Vec<Entry>) {
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = path.index(i);
                out.push(Entry {
                    path: p.clone(),
                    key: None,
                    value: item.span(),
                });
                walk_value(item, &p, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[daemon]\ninterface = \"eth0\"\n\n[[vip]]\nname = \"web\"\n\n\
        [[vip.backend]]\nname = \"a\"\nhealth = { kind = \"http\",\n  rise = 2 }\n\n\
        [[vip.backend]]\nname = \"b\"\n";

    #[test]
    fn display() {
        let p = KeyPath::root().key("vip").index(0).key("backend").index(1);
        assert_eq!(p.key("address").to_string(), "vip[0].backend[1].address");
        assert_eq!(KeyPath::root().to_string(), "");
    }

    #[test]
    fn lines_of_paths() {
        let l = Locator::new(TEXT);
        assert!(!l.syntax_error);
        let vip = KeyPath::root().key("vip").index(0);
        assert_eq!(l.line_of_path(&KeyPath::root().key("daemon")), 1);
        assert_eq!(
            l.line_of_path(&KeyPath::root().key("daemon").key("interface")),
            2
        );
        assert_eq!(l.line_of_path(&vip), 4);
        assert_eq!(l.line_of_path(&vip.key("name")), 5);
        let b0 = vip.key("backend").index(0);
        assert_eq!(l.line_of_path(&b0), 7);
        assert_eq!(l.line_of_path(&b0.key("health").key("rise")), 10);
        assert_eq!(l.line_of_path(&vip.key("backend").index(1).key("name")), 13);
        // Missing: falls back to the nearest written prefix.
        assert_eq!(l.line_of_path(&b0.key("weight")), 7);
        assert_eq!(l.line_of_path(&KeyPath::root().key("nope")), 1);
    }

    #[test]
    fn paths_at_offsets() {
        let l = Locator::new(TEXT);
        let at = |needle: &str| l.path_at(TEXT.find(needle).unwrap()).to_string();
        assert_eq!(at("\"eth0\""), "daemon.interface");
        assert_eq!(at("rise"), "vip[0].backend[0].health.rise");
        assert_eq!(at("\"http\""), "vip[0].backend[0].health.kind");
        assert_eq!(at("name = \"b\""), "vip[0].backend[1].name");
        // Between entries: the last key before.
        assert_eq!(
            l.path_at(TEXT.find("\n\n[[vip]]").unwrap() + 1).to_string(),
            "daemon.interface"
        );
    }
}
