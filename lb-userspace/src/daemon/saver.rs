//! Writes the state file off the core loop: the core hands over the latest
//! record (the newest replaces one not yet written) and moves on; a task of
//! its own writes it (temp file, fsync, rename, fsync of the directory). So a
//! slow disk never delays a tick or an answer.

use tokio::{sync::watch, task::JoinHandle};

use super::persist::{Persisted, StateFile};

#[derive(Clone, Debug)]
enum Save {
    Write(Persisted),
    /// `lb teardown`: the file goes (a new deployment starts afresh).
    Remove,
}

/// The core's end of the writer.
pub struct Saver {
    tx: watch::Sender<Option<Save>>,
}

impl Saver {
    /// Starts the writer of `file`. Its task ends once every `Saver` is
    /// dropped and the last record is written: await it before exiting.
    pub fn start(file: StateFile) -> (Self, JoinHandle<()>) {
        let (tx, mut rx) = watch::channel(None::<Save>);
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(save) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let file = file.clone();
                let done = tokio::task::spawn_blocking(move || match save {
                    Save::Write(p) => file.store(&p).map_err(|e| (file, format!("{e:#}"))),
                    Save::Remove => file.remove().map(drop).map_err(|e| (file, e.to_string())),
                })
                .await;
                if let Ok(Err((file, e))) = done {
                    tracing::error!(file = %file.0.display(), error = %e, "cannot write the state file");
                }
            }
        });
        (Self { tx }, task)
    }

    pub fn save(&self, persisted: Persisted) {
        self.tx.send_replace(Some(Save::Write(persisted)));
    }

    pub fn remove(&self) {
        self.tx.send_replace(Some(Save::Remove));
    }
}
