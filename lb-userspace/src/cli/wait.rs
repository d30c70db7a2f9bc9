//! `lb drain NAME --wait`: follow a drain to its end, showing progress.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Exit, Term, show};
use crate::api::{
    client::{Client, ClientError},
    types::{BackendStatus, DrainOutcome, DrainStatus},
};

const POLL: Duration = Duration::from_millis(200);
/// How often the progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(1);
/// How long the daemon may be unreachable (e.g. restarting: drains survive
/// a restart) before we give up waiting.
const UNREACHABLE_FOR: Duration = Duration::from_secs(30);
/// How long past the drain's own deadline we wait for the daemon to end it.
const GRACE: Duration = Duration::from_secs(30);

/// Polls the backend until its drain has an outcome. Exit 0 only if it drained.
pub async fn follow(
    client: &Client,
    started: BackendStatus,
    json: bool,
    term: &mut Term<'_>,
) -> Result<Exit, ClientError> {
    let name = started.name.clone();
    let mut view = Progress::new(&name, term.err_tty);
    let t0 = Instant::now();
    let mut deadline = t0 + GRACE + secs(started.drain.as_ref().map_or(0.0, |d| d.timeout_s));
    let mut unreachable_since: Option<Instant> = None;
    let mut current = started;
    // No drain at all means it is over too, e.g. enabled meanwhile.
    while let Some(drain) = &current.drain {
        view.show(drain, term);
        if drain.outcome.is_some() {
            break;
        }
        if Instant::now() > deadline {
            view.clear();
            let _ = writeln!(
                term.err,
                "lb: the daemon has not ended the drain of {name} {} past its deadline; \
                 see `lb status`",
                GRACE.as_secs()
            );
            return Ok(Exit::Failed);
        }
        tokio::time::sleep(POLL).await;
        match client.backend(&name).await {
            Ok(b) => {
                unreachable_since = None;
                if let Some(d) = &b.drain {
                    deadline = t0 + GRACE + secs(d.timeout_s);
                }
                current = b;
            }
            Err(e) if e.api_code() == Some("unknown_backend") => {
                view.clear();
                let _ = writeln!(
                    term.err,
                    "lb: backend {name:?} disappeared while draining (removed by a reload?)"
                );
                return Ok(Exit::Failed);
            }
            Err(e @ (ClientError::NotRunning { .. } | ClientError::Io { .. })) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > UNREACHABLE_FOR {
                    view.clear();
                    return Err(e);
                }
            }
            Err(e) => {
                view.clear();
                return Err(e);
            }
        }
    }
    view.clear();
    let drained = current.drain.as_ref().and_then(|d| d.outcome) == Some(DrainOutcome::Drained)
        || (current.drain.is_none() && current.state == "drained");
    if json {
        let text = serde_json::to_string_pretty(&current).expect("a status always serializes");
        let _ = writeln!(term.out, "{text}");
    } else {
        let _ = write!(term.out, "{}", show::backend_line(&current));
    }
    Ok(if drained { Exit::Ok } else { Exit::Failed })
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// A progress bar on a terminal, else a plain line every second.
struct Progress {
    name: String,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl Progress {
    fn new(name: &str, tty: bool) -> Self {
        let bar = tty.then(|| {
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
                .expect("a valid template")
                .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr())
                .with_style(style)
                .with_prefix(format!("draining {name}"))
        });
        Progress {
            name: name.to_owned(),
            bar,
            last_line: None,
        }
    }

    fn show(&mut self, d: &DrainStatus, term: &mut Term<'_>) {
        let mut message = format!(
            "live {} → {}, {} / {}, signal {}",
            d.initial_flows,
            d.live_flows,
            super::table::secs(d.elapsed_s),
            super::table::secs(d.timeout_s),
            d.signal
        );
        if let Some(fleet) = &d.fleet {
            message.push_str(&show::fleet_drain(fleet));
        }
        if let Some(bar) = &self.bar {
            // Progress is connections finished; an idle backend is done at once.
            let total = d.initial_flows.max(1);
            bar.set_length(total);
            bar.set_position(total - d.live_flows.min(total));
            bar.set_message(message);
            return;
        }
        if self.last_line.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) || d.outcome.is_some() {
            self.last_line = Some(Instant::now());
            let _ = writeln!(term.err, "draining {}: {message}", self.name);
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
