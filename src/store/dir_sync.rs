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

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// At most this many directory fsyncs run in the background at once.
const MAX_WORKERS: usize = 32;

/// One open directory to flush and where to say how it went.
struct Job {
    dir: File,
    done: Sender<io::Result<()>>,
}

struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    /// (workers started, workers waiting for a job).
    counts: Mutex<(usize, usize)>,
}

/// A directory fsync under way; `wait` gives its result.
pub(crate) struct Pending {
    result: Receiver<io::Result<()>>,
}

impl Pending {
    pub(crate) fn wait(self) -> io::Result<()> {
        self.result
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the fsync thread failed")))
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = unbounded();
        Pool {
            jobs,
            queue,
            counts: Mutex::new((0, 0)),
        }
    })
}

/// Starts flushing `dir` on a worker; Ok(None) when none is free and no
/// more may be started (the caller then flushes it itself).
pub(crate) fn start(dir: &Path) -> io::Result<Option<Pending>> {
    let dir = File::open(dir)?;
    let pool = pool();
    let (done, result) = bounded(1);
    let job = Job { dir, done };
    let mut counts = super::lock(&pool.counts);
    let (started, idle) = *counts;
    if idle > 0 {
        // Taken out of the idle count here, so two callers never count on
        // the same waiting worker.
        counts.1 = idle - 1;
    } else if started < MAX_WORKERS {
        let queue = pool.queue.clone();
        let spawned = std::thread::Builder::new()
            .name("dir-fsync".into())
            .stack_size(128 * 1024)
            .spawn(move || work(&queue));
        if spawned.is_err() {
            return Ok(None);
        }
        counts.0 = started + 1;
    } else {
        return Ok(None);
    }
    // Sent under the lock: a job is never queued without a worker for it.
    if pool.jobs.send(job).is_err() {
        return Ok(None);
    }
    Ok(Some(Pending { result }))
}

/// A worker: flushes directories for ever.
fn work(queue: &Receiver<Job>) {
    let pool = pool();
    while let Ok(job) = queue.recv() {
        let result = super::dotlock::sync_open_dir(&job.dir);
        // The caller may have given up waiting (it never does today).
        let _ = job.done.send(result);
        super::lock(&pool.counts).1 += 1;
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
        let (started, idle) = *super::super::lock(&pool().counts);
        assert!(
            started <= MAX_WORKERS && idle <= started,
            "{started} {idle}"
        );
    }
}
