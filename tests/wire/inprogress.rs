//! INPROGRESS (RFC 9585): progress lines during a long SEARCH.

use crate::common::TestServer;

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
    let progress: Vec<&str> = r.find("* OK [INPROGRESS ");
    assert!(!progress.is_empty(), "{:?}", r.untagged);
    let mut last = 0u64;
    for line in &progress {
        // `* OK [INPROGRESS ("tag" done total)] text`, the tag this command's.
        let inner = line
            .split_once("(\"")
            .and_then(|(_, rest)| rest.split_once(")]"))
            .map(|(inner, _)| inner)
            .expect(line);
        let parts: Vec<&str> = inner.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(parts[0].ends_with('"') && parts[0].len() > 1, "{line}");
        let done: u64 = parts[1].parse().expect(line);
        let total: u64 = parts[2].parse().expect(line);
        assert_eq!(total, N as u64, "{line}");
        assert!(done > last && done < total, "{line} after {last}");
        last = done;
    }
    // UID SEARCH and ESEARCH report the same way; the session goes on.
    let r = c.ok("UID SEARCH BODY needle");
    assert!(
        !r.find("* OK [INPROGRESS ").is_empty(),
        "{:?}",
        r.find("* SEARCH")
    );
    c.ok("NOOP");
}
