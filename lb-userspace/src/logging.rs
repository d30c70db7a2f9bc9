//! The daemon's log output: plain text for people, JSON lines for log
//! shippers, colour only on a terminal (journald stores escape codes as
//! they are, which makes `journalctl` output unreadable).

use std::io::IsTerminal as _;

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// `lb daemon --log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// The level filter: `RUST_LOG` if set and valid, else `info`.
fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// A subscriber writing to `writer`; `ansi` only for a terminal.
pub fn subscriber<W>(
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.json().with_ansi(false).finish()),
    }
}

/// Installs the process-wide subscriber for the daemon, logging to stdout
/// (the journal under systemd). A second call changes nothing.
pub fn init(format: LogFormat) {
    let ansi = std::io::stdout().is_terminal();
    let _ = tracing::subscriber::set_global_default(subscriber(format, ansi, std::io::stdout));
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    fn logged(format: LogFormat, ansi: bool) -> String {
        let buffer = Buffer::default();
        let sub = subscriber(format, ansi, buffer.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::info!(backend = "web-2", live = 3, "drain started");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn text_without_a_terminal_has_no_escape_codes() {
        let plain = logged(LogFormat::Text, false);
        assert!(plain.contains("drain started"), "{plain}");
        assert!(plain.contains("backend=\"web-2\""), "{plain}");
        assert!(!plain.contains('\x1b'), "{plain:?}");
        // And the terminal case does colour, so the check above means something.
        assert!(logged(LogFormat::Text, true).contains('\x1b'));
    }

    #[test]
    fn json_is_one_object_per_line_with_the_fields() {
        let text = logged(LogFormat::Json, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["message"], "drain started");
        assert_eq!(v["fields"]["backend"], "web-2");
        assert_eq!(v["fields"]["live"], 3);
        assert!(!text.contains('\x1b'));
    }
}
