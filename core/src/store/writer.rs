//! The single writer: a thread that owns every write to the database and folds concurrent
//! requests into one durable commit (group commit), replying to each only after the commit
//! has returned.
//!
//! An operation runs as a job against a [`Tx`]: it reads, validates, then writes. The `Tx`
//! tracks whether the current job wrote anything; a job that fails after writing poisons its
//! batch, which is then aborted whole, so a failed operation never leaves half its writes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;

use super::error::{AbortCause, WriteError};
use super::tx::Tx;
use super::tx_tables::TxTables;
use super::{Shared, Store};
use crate::error::Chain;

type Reply = Box<dyn FnOnce(Result<(), WriteError>) + Send>;

pub(crate) struct Job {
    run: Box<dyn FnOnce(&mut Tx<'_, '_>) -> Reply + Send>,
    fail: Box<dyn FnOnce(WriteError) + Send>,
}

/// The queue to the writer thread; dropping it stops the thread after the queued writes.
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    freer: Option<JoinHandle<()>>,
}

/// Requests that may wait for the writer before callers block.
const QUEUE_DEPTH: usize = 4096;

/// Batches of documents the cache let go of that may wait to be freed; past that the writer
/// frees them itself.
const FREE_DEPTH: usize = 16;

/// Documents the cache let go of, for a thread of their own to free: freeing a document is
/// most of what a cache insert costs (a tenth of the writer's time while a new window takes a
/// hospital's records), and the writer has the next batch to commit.
type LetGo = Vec<Arc<automerge::Automerge>>;

impl Writer {
    pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<Writer> {
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let (free, freed) = sync_channel::<LetGo>(FREE_DEPTH);
        let freer = std::thread::Builder::new()
            .name(format!("store-free-{}", shared.opts.node))
            .spawn(move || freed.iter().for_each(drop))?;
        let thread = std::thread::Builder::new()
            .name(format!("store-writer-{}", shared.opts.node))
            .spawn(move || writer_loop(&shared, &rx, &free))?;
        Ok(Writer {
            jobs: Some(tx),
            thread: Some(thread),
            freer: Some(freer),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
        // The writer's end of the freeing queue went with it: the freer stops once it is
        // through.
        if let Some(freer) = self.freer.take()
            && freer.join().is_err()
        {
            tracing::error!("store freeing thread panicked");
        }
    }
}

thread_local! {
    /// Set on the writer's own thread, where waiting for a write would wait for ever.
    static ON_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is a store's writer (a job running there cannot hand the writer
/// another job and wait for it).
pub(crate) fn on_writer_thread() -> bool {
    ON_WRITER.with(std::cell::Cell::get)
}

fn writer_loop(shared: &Shared, rx: &Receiver<Job>, free: &SyncSender<LetGo>) {
    ON_WRITER.with(|on| on.set(true));
    let mut pending: VecDeque<Job> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => return,
            }
        }
        while pending.len() < shared.opts.max_batch {
            match rx.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let take = pending.len().min(shared.opts.max_batch);
        let batch: Vec<Job> = pending.drain(..take).collect();
        // A panic inside the storage engine (damaged data) must not kill the writer: the
        // batch's callers see their request dropped, and later batches go on.
        match crate::error::contained(|| run_batch(shared, batch, free)) {
            Some(unrun) => {
                for job in unrun.into_iter().rev() {
                    pending.push_front(job);
                }
            }
            None => tracing::error!(
                "the storage engine panicked during a commit; the batch was dropped"
            ),
        }
    }
}

/// Runs one batch in one write transaction. Returns the jobs it did not get to (after an
/// abort), to run in the next batch.
fn run_batch(shared: &Shared, batch: Vec<Job>, free: &SyncSender<LetGo>) -> Vec<Job> {
    let w = match shared.db.begin_write() {
        Ok(w) => w,
        Err(e) => {
            let err = WriteError::from(redb::Error::from(e));
            tracing::error!(error = %Chain(&err), "cannot begin a write transaction");
            for job in batch {
                (job.fail)(err.clone());
            }
            return Vec::new();
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    let mut ran = 0;
    let mut jobs = batch.into_iter();
    let tables = TxTables::new(&w);
    let outcome = match Tx::begin(shared, &tables) {
        Err(e) => Err(WriteError::from(e)),
        Ok(mut tx) => {
            let mut poisoned = false;
            let mut wrote = false;
            for job in jobs.by_ref() {
                tx.start_job();
                ran += 1;
                replies.push((job.run)(&mut tx));
                wrote |= tx.job_wrote();
                if tx.poisoned() {
                    poisoned = true;
                    break;
                }
            }
            if poisoned {
                Err(WriteError::Aborted {
                    cause: AbortCause::BatchFailed,
                })
            } else if wrote {
                tx.finish().map(Some).map_err(WriteError::from)
            } else {
                // Nothing to make durable (every job only read or refused): no commit, no
                // fsync; the documents loaded still go to the cache.
                Ok(None)
            }
        }
    };
    let unrun: Vec<Job> = jobs.collect();
    let committing = std::time::Instant::now();
    // The batch's tables close (their roots written back) before the commit.
    drop(tables);
    let committed = outcome.and_then(|done| {
        match done {
            Some(_) => w
                .commit()
                .map_err(|e| WriteError::from(redb::Error::from(e)))?,
            None => w
                .abort()
                .map_err(|e| WriteError::from(redb::Error::from(e)))?,
        }
        Ok(done)
    });
    let seen = super::CommitSeen {
        writes: ran,
        duration: committing.elapsed(),
    };
    match committed {
        Ok(done) => {
            // The cache first, so that a caller reading right after its reply sees its write.
            let mut let_go = Vec::new();
            let feed_seq = done.map(|finished| {
                if let Ok(mut cache) = shared.cache.lock() {
                    let_go = cache.committed(finished.working, &finished.removed);
                }
                // The mark beside the store, before anyone hears "saved": a backup copied
                // back from before this commit is then told at its opening (`store::mark`).
                shared.keep_mark(finished.commit);
                finished.feed_seq
            });
            // The metrics before the answers (a histogram's observe is quick): a caller that
            // heard "saved" and then reads them finds its commit counted.
            if let (Some(_), Ok(observers)) = (feed_seq, shared.observers.lock()) {
                for observe in observers.iter() {
                    observe(&seen);
                }
            }
            for reply in replies {
                reply(Ok(()));
            }
            if let (Some(feed_seq), Ok(subscribers)) = (feed_seq, shared.subscribers.lock()) {
                for notify in subscribers.iter() {
                    notify(feed_seq);
                }
            }
            // Last: the callers have their answers and the cache its lock back. Freed on the
            // freer's thread, or here when it is that far behind.
            if !let_go.is_empty()
                && let Err(TrySendError::Full(docs) | TrySendError::Disconnected(docs)) =
                    free.try_send(let_go)
            {
                drop(docs);
            }
        }
        Err(err) => {
            if !matches!(err, WriteError::Aborted { .. }) {
                tracing::error!(error = %Chain(&err), "commit failed");
            }
            for reply in replies {
                reply(Err(err.clone()));
            }
        }
    }
    unrun
}

impl Store {
    /// Runs `f` in the writer and returns its result once the commit holding its writes has
    /// returned. Blocks the calling thread; async callers use `spawn_blocking`.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_, '_>) -> Result<T, WriteError> + Send + 'static,
    {
        if self
            .shared
            .damaged
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(WriteError::StoreDamaged);
        }
        let (reply_tx, reply_rx) = sync_channel::<Result<T, WriteError>>(1);
        let fail_tx = reply_tx.clone();
        let job = Job {
            run: Box::new(move |tx: &mut Tx<'_, '_>| -> Reply {
                let result = f(tx);
                if result.is_err() {
                    tx.job_failed();
                }
                // A job that failed hears its own reason (nothing of it is saved either way);
                // the others hear how the batch ended.
                Box::new(move |outcome: Result<(), WriteError>| {
                    let _ = reply_tx.send(result.and_then(|value| outcome.map(|()| value)));
                })
            }),
            fail: Box::new(move |err| {
                let _ = fail_tx.send(Err(err));
            }),
        };
        let jobs = self.writer.jobs.as_ref().ok_or(WriteError::Closed)?;
        jobs.send(job).map_err(|_| WriteError::Closed)?;
        reply_rx.recv().map_err(|_| WriteError::Closed)?
    }
}
