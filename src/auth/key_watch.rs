//! Keeping the public keys current without a restart: a background task looks at each key
//! file's modification time on an interval and, when a file changed, reads it again and swaps
//! the key set. A file that no longer reads keeps the keys it had, so a botched rotation never
//! locks every caller out; the warning in the log says what is wrong with it.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::TokenAlgorithm;
use super::algorithm::listed;
use super::key_file::{FileStamp, KeyFile, KeyFileError, KeyProblem};
use super::key_set::{KeySet, SharedKeySet};
use super::public_key::PublicKey;

/// The key files, what each looked like when last read, and the keys it gave.
#[derive(Clone)]
pub(super) struct KeyWatcher {
    files: Vec<WatchedFile>,
    allowed: Vec<TokenAlgorithm>,
    keys: SharedKeySet,
    interval: Duration,
}

#[derive(Clone)]
struct WatchedFile {
    file: KeyFile,
    stamp: Option<FileStamp>,
    keys: Vec<PublicKey>,
}

impl KeyWatcher {
    /// Reads every key file now. At startup a file that cannot be used is fatal: better to
    /// refuse to start than to serve with keys the operator did not mean.
    pub(super) fn load(
        files: Vec<KeyFile>,
        allowed: &[TokenAlgorithm],
        interval: Duration,
    ) -> Result<Self, KeyFileError> {
        let mut watched = Vec::with_capacity(files.len());
        for file in files {
            // The stamp is taken before reading: a rewrite racing with this read is seen as
            // a change on the first poll and read again.
            let stamp = std::fs::metadata(&file.path).ok().map(|metadata| FileStamp::of(&metadata));
            let keys = usable(&file, file.read_blocking()?, allowed)?;
            tracing::info!(key_file = %file.path.display(), keys = keys.len(), "loaded token keys");
            watched.push(WatchedFile { file, stamp, keys });
        }

        let watcher = Self {
            files: watched,
            allowed: allowed.to_vec(),
            keys: SharedKeySet::default(),
            interval,
        };
        watcher.publish();
        Ok(watcher)
    }

    /// The key set this watcher keeps current.
    pub(super) fn keys(&self) -> SharedKeySet {
        self.keys.clone()
    }

    /// Starts polling, unless there is nothing to poll or reloading is turned off.
    pub(super) fn spawn(mut self) -> KeyFileWatch {
        if self.files.is_empty() || self.interval.is_zero() {
            return KeyFileWatch { task: None };
        }

        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                self.poll().await;
            }
        });
        KeyFileWatch { task: Some(task) }
    }

    async fn poll(&mut self) {
        let mut changed = false;
        for watched in &mut self.files {
            let stamp = tokio::fs::metadata(&watched.file.path)
                .await
                .ok()
                .map(|metadata| FileStamp::of(&metadata));
            if stamp == watched.stamp {
                continue;
            }

            // Remembered even when the read fails, so a broken file is reported once and read
            // again only after its next change.
            watched.stamp = stamp;
            let read = watched.file.read().await;
            match read.and_then(|keys| usable(&watched.file, keys, &self.allowed)) {
                Ok(keys) => {
                    tracing::info!(
                        key_file = %watched.file.path.display(),
                        keys = keys.len(),
                        "reloaded token keys"
                    );
                    watched.keys = keys;
                    changed = true;
                }
                Err(error) => tracing::warn!(
                    %error,
                    "a key file changed but cannot be used; keeping its previous keys"
                ),
            }
        }

        if changed {
            self.publish();
        }
    }

    fn publish(&self) {
        let keys: Vec<PublicKey> =
            self.files.iter().flat_map(|watched| watched.keys.iter().cloned()).collect();
        self.keys.replace(KeySet::new(keys));
    }
}

/// Refuses a file none of whose keys an allowed algorithm could use: swapping it in would
/// lock out every caller it was meant for.
fn usable(
    file: &KeyFile,
    keys: Vec<PublicKey>,
    allowed: &[TokenAlgorithm],
) -> Result<Vec<PublicKey>, KeyFileError> {
    if keys.iter().any(|key| allowed.contains(&key.algorithm())) {
        return Ok(keys);
    }
    let public_key_algorithms: Vec<TokenAlgorithm> =
        allowed.iter().copied().filter(|algorithm| algorithm.uses_public_keys()).collect();
    Err(file.error(KeyProblem::NoUsableKey(listed(&public_key_algorithms))))
}

/// The running key file watcher; dropping it stops the watcher, so the server stops it simply
/// by returning.
#[must_use = "the key files are watched only while this is kept"]
pub struct KeyFileWatch {
    task: Option<JoinHandle<()>>,
}

impl Drop for KeyFileWatch {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
