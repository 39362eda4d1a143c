//! INPROGRESS (RFC 9585): how far a long command got, as untagged
//! `* OK [INPROGRESS ("tag" done total)]` lines sent at once, so a client
//! can show progress and knows the server is still at it.
//!
//! An update goes out once a second while the work lasts (as Dovecot and
//! mox pace theirs), or after every `EVERY` items, so that a big mailbox
//! gets some even on a fast disk.
//!
//! COPY, MOVE, STORE and EXPUNGE work through their messages `BATCH` at a
//! time and report between batches, when no mailbox lock is held, so a
//! slow client never keeps other sessions waiting.

use std::time::{Duration, Instant};

use crate::proto::encode::{Code, Status};
use crate::session::Session;

const INTERVAL: Duration = Duration::from_secs(1);
const EVERY: u64 = 5000;
/// Messages a changing command handles between two looks at the clock.
pub(super) const BATCH: usize = 1000;

pub(super) struct Progress {
    total: u64,
    done: u64,
    sent_at: u64,
    last: Instant,
    text: &'static str,
}

impl Progress {
    /// Work of `total` items of which `done` are done already.
    pub(super) fn new(done: u64, total: u64) -> Progress {
        Progress {
            total,
            done,
            sent_at: done,
            last: Instant::now(),
            text: "Still searching...",
        }
    }

    /// `total` items of some other work than a search, none done yet;
    /// `text` goes after the response code.
    pub(super) fn working(total: u64, text: &'static str) -> Progress {
        Progress {
            text,
            ..Progress::new(0, total)
        }
    }

    /// `n` more items done; sends an update when one is due.
    pub(super) fn advance(&mut self, s: &mut Session, n: u64) {
        self.done = (self.done + n).min(self.total);
        // The tagged reply says the rest.
        if self.done >= self.total {
            return;
        }
        if self.done - self.sent_at < EVERY && self.last.elapsed() < INTERVAL {
            return;
        }
        let Some(tag) = s.progress_tag.clone() else {
            return;
        };
        self.sent_at = self.done;
        self.last = Instant::now();
        let code = Code::InProgress {
            tag,
            done: self.done,
            total: self.total,
        };
        s.out.untagged_status(Status::Ok, Some(&code), self.text);
        // A write that fails shows again at the tagged reply.
        let _ = s.flush();
    }
}
