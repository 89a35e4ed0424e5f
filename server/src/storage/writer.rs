//! The single writer: one thread owns the write side of the store and
//! commits drafts in batches (group commit). Under load, many requests share
//! one transaction and one fsync; with no load a batch is a single draft, so
//! latency stays low. A request gets its reply only after the batch holding
//! its draft has committed.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::{AppendResult, Draft, Store, StoreError};

/// The most drafts one transaction takes; bounds the latency a batch adds.
const MAX_BATCH: usize = 1024;
/// Requests that may wait for the writer before senders are slowed down.
const QUEUE: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("the consent writer has stopped")]
    Stopped,
    #[error("the batch could not be stored")]
    Store(#[source] Arc<StoreError>),
}

struct Job {
    draft: Draft,
    reply: oneshot::Sender<Result<AppendResult, WriterError>>,
}

/// A handle to the writer thread. Clones share the thread; when the last
/// handle is dropped the thread finishes the queued jobs and exits.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    pub fn spawn(store: Arc<dyn Store>) -> (Writer, JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("crumb-writer".into())
            .spawn(move || run(store, rx))
            .expect("spawning the writer thread");
        (Writer { jobs }, thread)
    }

    /// Appends one draft and resolves once it is durably committed. What
    /// of its record needs no stored record is made here, on the caller's
    /// thread (an HTTP worker), so the writer does only what needs the
    /// chain's order.
    pub async fn append(&self, mut draft: Draft) -> Result<AppendResult, WriterError> {
        draft.prepared = crate::lifecycle::prepare(&draft);
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { draft, reply })
            .await
            .map_err(|_| WriterError::Stopped)?;
        answer.await.map_err(|_| WriterError::Stopped)?
    }
}

/// Appends a batch, trying again a few times while the store reports the
/// database busy (another process holding a lock longer than the busy
/// timeout, e.g. during its own checkpoint): a failed batch stored nothing,
/// so a retry is safe, and it beats failing a visitor's request.
fn append_retrying(store: &dyn Store, drafts: &[Draft]) -> Result<Vec<AppendResult>, StoreError> {
    let mut pause = std::time::Duration::from_millis(5);
    for _ in 0..5 {
        match store.append(drafts) {
            Err(StoreError::Busy(e)) => {
                tracing::warn!(error = %e, "database busy; retrying the batch");
                std::thread::sleep(pause);
                pause *= 4;
            }
            other => return other,
        }
    }
    store.append(drafts)
}

fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (drafts, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|j| (j.draft, j.reply)).unzip();
        let n = drafts.len();
        let started = std::time::Instant::now();
        match append_retrying(store.as_ref(), &drafts) {
            Ok(results) => {
                crate::metrics::global().commit(n, started.elapsed());
                for (reply, result) in replies.into_iter().zip(results) {
                    // The requester may have gone away; the record stays.
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                // Nothing of it is answered 201. Usually nothing is
                // stored either, but a commit whose answer was lost, or
                // (PostgreSQL) whose flush failed after it, may be: a
                // retry with the same Idempotency-Key finds that record.
                tracing::error!(error = %e, batch = n, "consent batch failed; none of it acknowledged");
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(WriterError::Store(e.clone())));
                }
            }
        }
    }
    tracing::debug!("consent writer stopped");
}
