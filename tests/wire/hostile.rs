//! Hostile input: each case gets a clear tagged answer (or BYE), the
//! server stays up for everyone else, and nothing grows without bound.
//! SECURITY.md lists these cases with the test that shows each.

use crate::common::TestServer;
use std::io::Write;
use std::time::Duration;

#[test]
fn nul_bytes_and_bad_utf7_are_refused() {
    let server = TestServer::start();
    let mut c = server.login();
    c.send(b"a1 SELECT \"IN\0BOX\"\r\n");
    let r = c.line();
    assert!(r.starts_with("a1 BAD"), "{r}");
    c.send(b"a2 CREATE {3+}\r\na\0b\r\n");
    let r = c.line();
    assert!(r.starts_with("a2 NO") || r.starts_with("a2 BAD"), "{r}");
    for bad in ["&", "&Jjo", "&AGE-", "&-&", "a&ZZZ-b", "&2D0-"] {
        let r = c.cmd(&format!("CREATE \"{bad}\""));
        assert!(r.tagged.starts_with("NO"), "CREATE {bad}: {}", r.tagged);
    }
    c.ok("NOOP");
}

#[test]
fn huge_sequence_sets_and_deep_searches_are_bounded() {
    let server = TestServer::start();
    let mut c = server.login();
    c.append("INBOX", "", "Subject: x\r\n\r\nx\r\n");
    c.ok("SELECT INBOX");
    // 100,000 elements: at the limit, answered; over it, BAD.
    let set: Vec<String> = (1..=100_000).map(|n| (n * 2).to_string()).collect();
    let r = c.cmd(&format!("UID FETCH {} (FLAGS)", set.join(",")));
    assert!(
        r.tagged.starts_with("OK") || r.tagged.starts_with("BAD"),
        "{}",
        r.tagged
    );
    let set: Vec<String> = (1..=100_001).map(|n| (n * 2).to_string()).collect();
    let r = c.cmd(&format!("UID FETCH {} (FLAGS)", set.join(",")));
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    // Nesting beyond the limit is BAD, not a stack overflow.
    let deep = format!("{}ALL{}", "(".repeat(5000), ")".repeat(5000));
    let r = c.cmd(&format!("SEARCH {deep}"));
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    let nots = format!("{}ALL", "NOT ".repeat(5000));
    let r = c.cmd(&format!("SEARCH {nots}"));
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    let r = c.ok("SEARCH (((((OR NOT SEEN ALL)))))");
    assert_eq!(r.untagged, vec!["* SEARCH 1"]);
}

#[test]
fn sasl_garbage_is_bad_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut c = server.connect();
    for garbage in ["!!!", "AAAA====", "=", "AGFsaWNl", "AAAA", "AHNlY3JldA=="] {
        let r = c.cmd(&format!("AUTHENTICATE PLAIN {garbage}"));
        assert!(
            r.tagged.starts_with("BAD") || r.tagged.starts_with("NO"),
            "{garbage}: {}",
            r.tagged
        );
    }
    c.send(b"a9 AUTHENTICATE PLAIN\r\n");
    assert!(c.line().starts_with('+'));
    c.send(&[0xff; 64]);
    c.send(b"\r\n");
    let r = c.line();
    assert!(r.starts_with("a9 BAD") || r.starts_with("a9 NO"), "{r}");
    c.ok("LOGIN alice secret");
}

#[test]
fn a_client_that_never_reads_does_not_pin_the_server() {
    let server = TestServer::start();
    let mut c = server.login();
    c.append(
        "INBOX",
        "",
        &format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(1 << 20)),
    );
    c.ok("SELECT INBOX");
    // Ask for far more than the socket buffers hold and never read it.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.write_all(b"a LOGIN alice secret\r\nb SELECT INBOX\r\n")
        .unwrap();
    for i in 0..200 {
        let _ = raw.write_all(format!("f{i} FETCH 1 BODY.PEEK[]\r\n").as_bytes());
    }
    std::thread::sleep(Duration::from_millis(500));
    // Everyone else is served meanwhile.
    let mut other = server.login();
    other.ok("SELECT INBOX");
    other.ok("FETCH 1 (FLAGS)");
    drop(raw);
    c.ok("NOOP");
}

/// A full disk: APPEND fails with NO, leaves no half message behind, and
/// the session and the mailbox go on. Needs a small tmpfs (root with
/// mount(8)); elsewhere it says so and checks nothing.
#[test]
fn a_full_disk_refuses_the_append_and_loses_nothing() {
    let server = TestServer::start();
    let home = server.root().join("home/alice");
    std::fs::create_dir_all(&home).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(&home)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "a_full_disk_refuses_the_append_and_loses_nothing: cannot mount a tmpfs here; skipped"
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(home.clone());
    let mut c = server.login();
    let uid = c.append("INBOX", "", "Subject: small\r\n\r\nfits\r\n");
    let big = format!("Subject: big\r\n\r\n{}\r\n", "z".repeat(2 << 20));
    let r = c.cmd(&format!("APPEND INBOX {{{}+}}\r\n{big}", big.len()));
    assert!(r.tagged.starts_with("NO"), "{}", r.tagged);
    let maildir = home.join("Maildir");
    for sub in ["tmp", "new"] {
        let left: Vec<_> = std::fs::read_dir(maildir.join(sub)).unwrap().collect();
        assert!(left.is_empty(), "{sub}/ has {left:?}");
    }
    let r = c.ok("SELECT INBOX");
    assert!(
        r.untagged.contains(&"* 1 EXISTS".to_string()),
        "{:?}",
        r.untagged
    );
    let r = c.ok(&format!("UID FETCH {uid} (BODY.PEEK[TEXT])"));
    assert!(r.untagged[0].contains("fits"), "{:?}", r.untagged);
    // Room again: the next delivery works.
    assert!(c.append("INBOX", "", "Subject: after\r\n\r\nok\r\n") > uid);
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A big APPEND streams to `tmp/` as it arrives: the server's memory does
/// not grow by the message, and what is stored is exactly what was sent.
#[test]
fn big_appends_stream_to_disk_not_memory() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE Big");
    c.ok("NOOP");
    let before = peak_rss_kib(server.pid());
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n";
    let body = line.repeat((40 << 20) / line.len());
    let msg = format!("Subject: big\r\n\r\n{body}");
    // Two big ones and a small one in one MULTIAPPEND, in order.
    let tag = c.tag();
    c.send(format!("{tag} APPEND Big {{{}+}}\r\n", msg.len()).as_bytes());
    c.send(msg.as_bytes());
    c.send(b" (\\Seen) {19+}\r\nSubject: s\r\n\r\nsmall");
    let second = msg.replace("Subject: big", "Subject: two");
    c.send(format!(" {{{}}}\r\n", second.len()).as_bytes());
    let cont = c.line();
    assert!(cont.starts_with('+'), "{cont}");
    c.send(second.as_bytes());
    c.send(b"\r\n");
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("OK [APPENDUID "), "{}", r.tagged);
    let grown = peak_rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grown < 24 << 10,
        "server grew by {grown} KiB for 80 MB of mail"
    );
    c.ok("EXAMINE Big");
    let r = c.ok("FETCH 1:3 (RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])");
    assert_eq!(
        r.untagged.len(),
        3,
        "{:?}",
        r.untagged
            .iter()
            .map(|l| &l[..60.min(l.len())])
            .collect::<Vec<_>>()
    );
    assert!(
        r.untagged[0].contains(&format!("RFC822.SIZE {}", msg.len())),
        "{}",
        r.untagged[0]
    );
    assert!(r.untagged[0].contains("Subject: big"));
    assert!(r.untagged[1].contains("\\Seen") && r.untagged[1].contains("Subject: s"));
    assert!(r.untagged[2].contains("Subject: two"));
    // The stored file is byte for byte what was sent; no spool file is left.
    let cur = server.root().join("home/alice/Maildir/.Big/cur");
    let stored: Vec<Vec<u8>> = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(stored.iter().any(|b| b == msg.as_bytes()));
    assert!(stored.iter().any(|b| b == second.as_bytes()));
    let tmp = server.root().join("home/alice/Maildir/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "spool files left"
    );
}
