//! INPROGRESS (RFC 9585): progress lines during a long SEARCH.

use crate::common::{Reply, TestServer};

/// The reply has `* OK [INPROGRESS ("tag" done total)]` lines, counting up
/// towards `total` and stopping short of it.
fn assert_progress(r: &Reply, total: u64) {
    let progress: Vec<&str> = r.find("* OK [INPROGRESS ");
    assert!(!progress.is_empty(), "{:?}", r.tagged);
    let mut last = 0u64;
    for line in &progress {
        let inner = line
            .split_once("(\"")
            .and_then(|(_, rest)| rest.split_once(")]"))
            .map(|(inner, _)| inner)
            .expect(line);
        let parts: Vec<&str> = inner.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(parts[0].ends_with('"') && parts[0].len() > 1, "{line}");
        let done: u64 = parts[1].parse().expect(line);
        let n: u64 = parts[2].parse().expect(line);
        assert_eq!(n, total, "{line}");
        assert!(done > last && done < total, "{line} after {last}");
        last = done;
    }
}

/// `n` messages straight into INBOX's Maildir, as a delivery agent would.
fn deliver_many(server: &TestServer, n: usize) {
    let cur = server.root().join("home/alice/Maildir/cur");
    for i in 0..n {
        std::fs::write(
            cur.join(format!("1700000000.M{i}P1.test:2,")),
            format!("Subject: m{i}\r\n\r\nhay\r\n"),
        )
        .unwrap();
    }
}

#[test]
fn long_copy_store_move_and_expunge_report_progress() {
    let server = TestServer::builder().opt("fts_index", "no").start();
    const N: usize = 12_000;
    // The first login makes the Maildir.
    server.login().ok("LOGOUT");
    deliver_many(&server, N);
    let mut c = server.login();
    c.ok("CREATE Foo");
    c.ok("SELECT INBOX");
    let r = c.ok("COPY 1:* Foo");
    assert_progress(&r, N as u64);
    assert!(r.tagged.contains("[COPYUID "), "{}", r.tagged);
    let r = c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)");
    assert_progress(&r, N as u64);
    let r = c.ok("EXPUNGE");
    assert_progress(&r, N as u64);
    assert_eq!(
        r.find("* ")
            .iter()
            .filter(|l| l.ends_with(" EXPUNGE"))
            .count(),
        N
    );
    c.ok("SELECT Foo");
    let r = c.ok("UID MOVE 1:* INBOX");
    assert_progress(&r, N as u64);
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(
        r.find("* STATUS"),
        vec![format!("* STATUS INBOX (MESSAGES {N})")]
    );
    c.ok("NOOP");
}

#[test]
fn a_long_search_reports_progress_with_increasing_counts() {
    let server = TestServer::builder().opt("fts_index", "no").start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"INPROGRESS".to_string()));
    c.ok("LOGOUT");
    // 12,000 messages straight into the Maildir, as a delivery agent would.
    const N: usize = 12_000;
    let cur = server.root().join("home/alice/Maildir/cur");
    for i in 0..N {
        let text = if i == N - 7 { "needle" } else { "hay" };
        std::fs::write(
            cur.join(format!("1700000000.M{i}P1.test:2,")),
            format!("Subject: m{i}\r\n\r\n{text}\r\n"),
        )
        .unwrap();
    }
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let r = c.ok("SEARCH BODY needle");
    assert_eq!(r.find("* SEARCH"), vec![format!("* SEARCH {}", N - 6)]);
    assert_progress(&r, N as u64);
    // UID SEARCH and ESEARCH report the same way; the session goes on.
    let r = c.ok("UID SEARCH BODY needle");
    assert!(
        !r.find("* OK [INPROGRESS ").is_empty(),
        "{:?}",
        r.find("* SEARCH")
    );
    c.ok("NOOP");
}
