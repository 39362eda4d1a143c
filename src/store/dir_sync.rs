//! Directory fsyncs run beside other work: APPEND and COPY flush `cur/`
//! while they write the uidlist (see `numbered_while_cur_syncs`).
//!
//! The flushes run on a few long-lived threads, grown on demand up to
//! `MAX_WORKERS` and kept: starting a thread for each APPEND cost more
//! (a stack mapped and unmapped, a dozen system calls) than the fsync
//! itself on a fast disk. When every worker is busy and no more may be
//! started, the caller flushes the directory itself.
//!
//! The caller opens the directory and hands over the descriptor: a
//! session thread may run as its user (`privileges`), a worker runs as
//! whichever thread started it, and fsync on an open descriptor asks for
//! no permission.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// At most this many directory fsyncs run in the background at once.
const MAX_WORKERS: usize = 32;

/// One open directory to flush and where to say how it went.
struct Job {
    dir: File,
    done: Arc<Slot>,
}

/// Where a worker leaves a flush's result. A mutex and a condition
/// variable, not a channel: a channel's receiver spins and yields the CPU
/// a few times before it sleeps, and a flush takes milliseconds.
#[derive(Default)]
struct Slot {
    result: Mutex<Option<io::Result<()>>>,
    filled: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Workers started.
    started: usize,
    /// Workers waiting for a job, less the jobs queued for them.
    idle: usize,
}

#[derive(Default)]
struct Pool {
    queue: Mutex<Queue>,
    queued: Condvar,
}

/// A directory fsync under way; `wait` gives its result.
pub(crate) struct Pending {
    slot: Arc<Slot>,
}

impl Pending {
    pub(crate) fn wait(self) -> io::Result<()> {
        let mut result = super::lock(&self.slot.result);
        // Bounded: the worker always fills the slot, and each wake-up
        // either finds it filled or waits again.
        loop {
            if let Some(r) = result.take() {
                return r;
            }
            result = self
                .slot
                .filled
                .wait(result)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

/// Starts flushing `dir` on a worker; Ok(None) when none is free and no
/// more may be started (the caller then flushes it itself).
pub(crate) fn start(dir: &Path) -> io::Result<Option<Pending>> {
    let dir = File::open(dir)?;
    let pool = pool();
    let slot = Arc::new(Slot::default());
    let mut queue = super::lock(&pool.queue);
    if queue.idle > 0 {
        // Counted out here, so two callers never count on one worker.
        queue.idle -= 1;
    } else if queue.started < MAX_WORKERS {
        let spawned = std::thread::Builder::new()
            .name("dir-fsync".into())
            .stack_size(128 * 1024)
            .spawn(work);
        if spawned.is_err() {
            return Ok(None);
        }
        queue.started += 1;
    } else {
        return Ok(None);
    }
    queue.jobs.push_back(Job {
        dir,
        done: Arc::clone(&slot),
    });
    pool.queued.notify_one();
    Ok(Some(Pending { slot }))
}

/// A worker: flushes directories for ever.
fn work() {
    let pool = pool();
    let mut queue = super::lock(&pool.queue);
    loop {
        let Some(job) = queue.jobs.pop_front() else {
            queue = pool.queued.wait(queue).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        drop(queue);
        let result = super::dotlock::sync_open_dir(&job.dir);
        *super::lock(&job.done.result) = Some(result);
        job.done.filled.notify_one();
        queue = super::lock(&pool.queue);
        queue.idle += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_run_on_workers_and_report_their_result() {
        let dir = tempfile::tempdir().unwrap();
        let pending: Vec<Pending> = (0..40).filter_map(|_| start(dir.path()).unwrap()).collect();
        assert!(!pending.is_empty());
        for p in pending {
            p.wait().unwrap();
        }
        assert!(start(&dir.path().join("missing")).is_err());
        let queue = super::super::lock(&pool().queue);
        assert!(queue.started <= MAX_WORKERS && queue.idle <= queue.started);
    }
}
