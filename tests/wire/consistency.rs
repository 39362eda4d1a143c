//! Many sessions changing one mailbox at once: every session's view of
//! sequence numbers must stay consistent with what it was told
//! (RFC 3501 §2.3.1.2, §7.4.1), checked after every step.

use crate::common::{Client, TestServer};

/// What one client believes: the UID at each sequence number (0 = not
/// learned yet), built only from the untagged responses it received.
#[derive(Default)]
struct View {
    uids: Vec<u32>,
    /// Flags seen per UID. Clients here only ever add \Flagged and
    /// \Deleted, so what a client once saw must never disappear.
    flags: std::collections::HashMap<u32, std::collections::BTreeSet<String>>,
}

impl View {
    /// Applies untagged responses in order; panics on any contradiction.
    fn apply(&mut self, who: usize, lines: &[String]) {
        for l in lines {
            let mut w = l.split_whitespace();
            if w.next() != Some("*") {
                continue;
            }
            let (Some(n), Some(kind)) = (w.next().and_then(|n| n.parse::<usize>().ok()), w.next())
            else {
                continue;
            };
            match kind {
                "EXISTS" => {
                    assert!(
                        n >= self.uids.len(),
                        "client {who}: EXISTS shrank to {n} from {}",
                        self.uids.len()
                    );
                    self.uids.resize(n, 0);
                }
                "EXPUNGE" => {
                    assert!(
                        n >= 1 && n <= self.uids.len(),
                        "client {who}: EXPUNGE {n} of {}",
                        self.uids.len()
                    );
                    self.uids.remove(n - 1);
                }
                "FETCH" => {
                    assert!(
                        n >= 1 && n <= self.uids.len(),
                        "client {who}: FETCH {n} of {}: {l}",
                        self.uids.len()
                    );
                    if let Some(uid) = l
                        .split("UID ")
                        .nth(1)
                        .and_then(|r| r.split([' ', ')']).next())
                    {
                        let uid: u32 = uid.parse().unwrap();
                        let known = self.uids[n - 1];
                        assert!(
                            known == 0 || known == uid,
                            "client {who}: seq {n} was UID {known}, now {uid}"
                        );
                        self.uids[n - 1] = uid;
                    }
                    let uid = self.uids[n - 1];
                    if let (Some(list), true) = (l.split("FLAGS (").nth(1), uid != 0) {
                        let now: std::collections::BTreeSet<String> = list
                            .split(')')
                            .next()
                            .unwrap_or("")
                            .split_whitespace()
                            .filter(|f| *f != "\\Recent")
                            .map(str::to_string)
                            .collect();
                        let before = self.flags.entry(uid).or_default();
                        assert!(
                            now.is_superset(before),
                            "client {who}: UID {uid} lost flags: {before:?} -> {now:?}"
                        );
                        *before = now;
                    }
                }
                _ => {}
            }
        }
    }
}

fn run(c: &mut Client, view: &mut View, who: usize, cmd: &str) -> String {
    let r = c.cmd(cmd);
    view.apply(who, &r.untagged);
    assert!(!r.tagged.starts_with("BAD"), "client {who}: {cmd} -> {r:?}");
    r.tagged
}

fn worker(port: u16, who: usize, steps: usize) {
    let mut c = Client::plain(port);
    c.line();
    c.ok("LOGIN alice secret");
    let mut view = View::default();
    run(&mut c, &mut view, who, "SELECT INBOX");
    let mut seed = who as u64 * 7919 + 1;
    let mut rand = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n.max(1)
    };
    for step in 0..steps {
        let len = view.uids.len();
        let cmd = match rand(6) {
            0 | 1 => {
                let msg = format!("Subject: {who}-{step}\r\n\r\nbody\r\n");
                format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len())
            }
            2 if len > 0 => format!("STORE {} +FLAGS (\\Flagged)", rand(len) + 1),
            3 if len > 0 => format!("STORE {} +FLAGS.SILENT (\\Deleted)", rand(len) + 1),
            4 => "EXPUNGE".to_string(),
            5 if len > 0 => format!("MOVE {} Other", rand(len) + 1),
            _ => "NOOP".to_string(),
        };
        run(&mut c, &mut view, who, &cmd);
        // The check: a sequence-number FETCH of everything must agree with
        // the view (no EXPUNGE can arrive during it).
        if !view.uids.is_empty() {
            let r = c.cmd("FETCH 1:* (UID FLAGS)");
            assert!(
                r.tagged.starts_with("OK") || r.tagged.contains("EXPUNGEISSUED"),
                "client {who}: {r:?}"
            );
            // (Flag updates from other sessions may come as extra FETCH lines.)
            let fetched = r
                .untagged
                .iter()
                .filter(|l| l.contains(" FETCH (UID "))
                .count();
            let before = view.uids.len();
            view.apply(who, &r.untagged);
            // UID and FLAGS of messages expunged elsewhere but not yet
            // announced here still come from this session's view.
            assert!(r.tagged.starts_with("OK"), "client {who}: {r:?}");
            assert_eq!(
                fetched, before,
                "client {who}: FETCH 1:* answered {fetched} of {before}: {r:?}"
            );
        }
    }
    run(&mut c, &mut view, who, "NOOP");
}

fn stress(clients: usize, steps: usize) {
    let server = TestServer::start();
    let mut setup = server.login();
    setup.ok("CREATE Other");
    let port = server.port;
    let threads: Vec<_> = (0..clients)
        .map(|who| std::thread::spawn(move || worker(port, who, steps)))
        .collect();
    for t in threads {
        t.join().expect("a client found an inconsistency");
    }
    // Nothing lost: every APPEND is either in INBOX or was moved to Other.
    let r = setup.ok("STATUS INBOX (MESSAGES UIDNEXT)");
    assert!(
        r.untagged[0].starts_with("* STATUS INBOX (MESSAGES "),
        "{r:?}"
    );
}

#[test]
fn two_sessions_stay_consistent() {
    stress(2, 40);
}

#[test]
fn ten_sessions_stay_consistent() {
    stress(10, 25);
}
