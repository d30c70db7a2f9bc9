//! Writing the text exposition format: families (HELP, TYPE), samples with
//! escaped labels, and values as Prometheus reads them.

use std::fmt::Write as _;

use super::backend_labels;
use crate::api::types::BackendStatus;

/// Label pairs of one series; values are escaped when written.
pub type Labels = Vec<(&'static str, String)>;

/// Text being built; writing to a String cannot fail.
#[derive(Default)]
pub struct Exposition {
    pub text: String,
}

impl Exposition {
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A family of one series without labels.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A gauge with one series per possible value of `label`: 1 for the
    /// backend's current value, 0 for the others, so a query can select on
    /// the label (`lb_backend_state{state="draining"} == 1`). A value this
    /// version does not list still shows, as the one set to 1.
    pub fn one_of(
        &mut self,
        backends: &[&BackendStatus],
        name: &str,
        label: &'static str,
        help: &str,
        known: &[&str],
        current: fn(&BackendStatus) -> &str,
    ) {
        self.family(name, "gauge", help);
        for b in backends {
            let current = current(b);
            let extra = (!known.contains(&current)).then_some(current);
            for value in known.iter().copied().chain(extra) {
                let mut labels = backend_labels(b);
                labels.push((label, value.to_owned()));
                self.sample(name, &labels, u64::from(value == current));
            }
        }
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, String)], value: impl Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(val));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", value.text());
    }
}

pub trait Value: Copy {
    fn text(&self) -> String;
}
impl Value for u64 {
    fn text(&self) -> String {
        self.to_string()
    }
}
impl Value for f64 {
    fn text(&self) -> String {
        match *self {
            v if v.is_nan() => "NaN".to_owned(),
            v if v.is_infinite() => if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned(),
            v => v.to_string(),
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}
