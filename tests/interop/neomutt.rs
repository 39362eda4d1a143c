//! neomutt, driven through a detached tmux session of fixed size as a user
//! at a terminal would: it opens the INBOX over IMAP with STARTTLS, shows
//! the subjects, opens a message, flags it, deletes another and quits;
//! the server then has the changes.

use super::{flag_list, require, run_bounded, seed, server_view, Home, Run, RUN_LIMIT};
use crate::common::TestServer;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A private tmux server (its own socket in the client's home) running
/// one program; killed when dropped.
struct Tmux<'a> {
    home: &'a Home,
    socket: PathBuf,
}

impl<'a> Tmux<'a> {
    fn start(home: &'a Home, program: &str) -> Tmux<'a> {
        let tmux = Tmux {
            home,
            socket: home.join("tmux.sock"),
        };
        let run = tmux.tmux(&[
            "new-session",
            "-d",
            "-s",
            "roost",
            "-x",
            "120",
            "-y",
            "40",
            program,
        ]);
        assert!(run.ok, "tmux new-session failed: {}", run.out);
        tmux
    }

    /// Runs a tmux command against this private server.
    fn tmux(&self, args: &[&str]) -> Run {
        let mut c = self.home.command("tmux");
        c.arg("-S").arg(&self.socket).args(args);
        run_bounded(c, "tmux")
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "roost"];
        args.extend_from_slice(keys);
        let run = self.tmux(&args);
        assert!(run.ok, "tmux send-keys {keys:?} failed: {}", run.out);
    }

    /// The screen as text, or None once the session has ended.
    fn screen(&self) -> Option<String> {
        let run = self.tmux(&["capture-pane", "-p", "-t", "roost"]);
        run.ok.then_some(run.out)
    }

    /// Polls the screen until `ready` holds; fails after 20 s.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.screen() {
                Some(screen) if ready(&screen) => return screen,
                Some(screen) => last = screen,
                None => panic!(
                    "neomutt ended while waiting for {what}; last screen:\n{last}{}",
                    self.errors()
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}; the screen:\n{last}{}",
            self.errors()
        );
    }

    /// Waits for the program to exit (the session ends with it).
    fn wait_exit(&self) {
        let deadline = Instant::now() + RUN_LIMIT;
        while self.screen().is_some() {
            assert!(Instant::now() < deadline, "neomutt did not quit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn errors(&self) -> String {
        let err = std::fs::read_to_string(self.home.join("neomutt.err")).unwrap_or_default();
        format!("\nneomutt's stderr:\n{err}")
    }
}

impl Drop for Tmux<'_> {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The index line showing `subject`, if any.
fn index_line<'s>(screen: &'s str, subject: &str) -> Option<&'s str> {
    screen.lines().find(|l| l.ends_with(subject))
}

/// The status flags column of an index line: what stands between the
/// message number and the date ("N", "!", "D", "r" ...). All seeded
/// messages are dated January.
fn status_of<'s>(screen: &'s str, subject: &str) -> &'s str {
    index_line(screen, subject)
        .and_then(|line| line.split_once(" Jan "))
        .map(|(before, _)| {
            before
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit())
        })
        .unwrap_or("")
}

#[test]
fn neomutt_reads_flags_and_deletes_over_imap() {
    if !require("neomutt", "neomutt") || !require("tmux", "tmux") {
        return;
    }
    let server = TestServer::start();
    let seeded = seed(&server);
    let home = Home::new(&server);
    // No caches, no confirmation prompts; deleted mail is purged on quit;
    // cursor stays on a message after flagging it (resolve).
    home.write(
        ".neomuttrc",
        &format!(
            "set folder = \"imap://alice@localhost:{port}/\"\nset spoolfile = \"+INBOX\"\n\
             set imap_user = \"alice\"\nset imap_pass = \"secret\"\n\
             set ssl_starttls = yes\nset ssl_force_tls = yes\n\
             set ssl_ca_certificates_file = \"{ca}\"\n\
             set header_cache = \"\"\nset message_cachedir = \"\"\n\
             set sort = date\nset delete = yes\nset quit = yes\nset move = no\n\
             set mark_old = no\nset resolve = no\nset wait_key = no\nset pager_stop = yes\n",
            port = server.port,
            ca = home.ca()
        ),
    );
    let tmux = Tmux::start(&home, "neomutt 2> neomutt.err");

    // The index lists every INBOX message by subject, in date order.
    let subjects: Vec<&str> = seeded
        .iter()
        .filter(|s| s.folder == "INBOX")
        .map(|s| s.subject.as_str())
        .collect();
    let screen = tmux.wait_for("the index", |s| {
        subjects
            .iter()
            .all(|subject| index_line(s, subject).is_some())
    });
    assert!(screen.contains("+INBOX"), "{screen}");
    let first = index_line(&screen, "Inbox message 0").unwrap();
    assert!(first.trim_start().starts_with("1 "), "{screen}");

    // Open message 1: the pager shows its headers and body.
    tmux.send(&["1", "Enter"]);
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("the message", |s| s.contains("Body of message 0."));
    assert!(screen.contains("Subject: Inbox message 0"), "{screen}");

    // Back to the index; flag this message, delete the next one.
    tmux.send(&["q"]);
    tmux.wait_for("the index again", |s| {
        index_line(s, "Inbox message 0").is_some()
    });
    tmux.send(&["F"]);
    tmux.wait_for("the flag", |s| {
        status_of(s, "Inbox message 0").contains('!')
    });
    tmux.send(&["j"]);
    tmux.send(&["d"]);
    tmux.wait_for("the deletion mark", |s| {
        status_of(s, "Inbox message 1").contains('D')
    });

    // Quitting writes the changes back and purges the deleted message.
    tmux.send(&["q"]);
    tmux.wait_exit();
    let status = std::fs::read_to_string(home.join("neomutt.err")).unwrap_or_default();
    assert!(status.trim().is_empty(), "neomutt complained:\n{status}");

    let view = server_view(&server);
    let inbox = &view["INBOX"];
    let flags_of = |subject: &str| {
        inbox
            .iter()
            .find(|m| m.subject == subject)
            .map(|m| m.flags.clone())
    };
    assert_eq!(
        flags_of("Inbox message 0"),
        Some(flag_list("\\Flagged \\Seen"))
    );
    assert_eq!(
        flags_of("Inbox message 1"),
        None,
        "deleted message still there"
    );
    // Nothing else changed.
    for s in seeded.iter().filter(|s| s.folder == "INBOX").skip(2) {
        assert_eq!(
            flags_of(&s.subject),
            Some(flag_list(s.flags)),
            "{}",
            s.subject
        );
    }
    assert_eq!(inbox.len(), 5);
}
