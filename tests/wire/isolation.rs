//! One user's mail stays theirs: symlinks in a tree are never followed
//! out of it, names cannot climb out of the root, and what Roost creates
//! is private to the mail owner.

use crate::common::TestServer;
use std::os::unix::fs::{symlink, PermissionsExt};

#[test]
fn symlinks_in_a_tree_lead_nowhere() {
    let server = TestServer::builder().user("bob", "hunter2").start();
    let mut bob = server.login_as("bob", "hunter2");
    bob.ok("CREATE Private");
    bob.append("Private", "", "Subject: bob's secret\r\n\r\nTOP SECRET\r\n");
    bob.append("INBOX", "", "Subject: bob's inbox\r\n\r\nALSO SECRET\r\n");
    let mut alice = server.login();
    alice.append("INBOX", "", "Subject: mine\r\n\r\nmine\r\n");
    alice.ok("LOGOUT");

    let home = server.root().join("home");
    let (a, b) = (home.join("alice/Maildir"), home.join("bob/Maildir"));
    // A folder that is a symlink to bob's folder, one whose cur/ is, and a
    // message file that is a symlink to bob's message.
    symlink(b.join(".Private"), a.join(".Evil")).unwrap();
    std::fs::create_dir_all(a.join(".Sneaky")).unwrap();
    symlink(b.join("cur"), a.join(".Sneaky/cur")).unwrap();
    std::fs::create_dir_all(a.join(".Sneaky/new")).unwrap();
    std::fs::create_dir_all(a.join(".Sneaky/tmp")).unwrap();
    let bobs = std::fs::read_dir(b.join("cur"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    symlink(&bobs, a.join("cur/1700000000.M1P1.evil:2,")).unwrap();

    let mut alice = server.login();
    let r = alice.ok("LIST \"\" \"*\"");
    assert!(
        r.untagged.iter().all(|l| !l.contains("Evil")),
        "{:?}",
        r.untagged
    );
    for name in ["Evil", "Sneaky"] {
        let r = alice.cmd(&format!("SELECT {name}"));
        assert!(r.tagged.starts_with("NO"), "{name}: {}", r.tagged);
        let r = alice.cmd(&format!("STATUS {name} (MESSAGES)"));
        assert!(r.tagged.starts_with("NO"), "{name}: {}", r.tagged);
        let r = alice.cmd(&format!("APPEND {name} {{3+}}\r\nx\r\n"));
        assert!(!r.tagged.starts_with("OK"), "{name}: {}", r.tagged);
    }
    let r = alice.ok("SELECT INBOX");
    assert!(
        r.untagged.contains(&"* 1 EXISTS".to_string()),
        "{:?}",
        r.untagged
    );
    let r = alice.ok("FETCH 1:* (BODY.PEEK[])");
    let all = r.untagged.join("\n");
    assert!(!all.contains("SECRET"), "{all}");
    let r = alice.ok("SEARCH TEXT SECRET");
    assert_eq!(r.untagged, vec!["* SEARCH"]);
}

#[test]
fn names_cannot_climb_out_of_the_root() {
    let server = TestServer::builder().user("bob", "hunter2").start();
    let mut bob = server.login_as("bob", "hunter2");
    bob.ok("CREATE Private");
    let mut alice = server.login();
    for name in [
        "../bob",
        "\"../../bob/Maildir/.Private\"",
        "a/../../b",
        "\"..\"",
        "\".hidden\"",
        "\"~bob\"",
    ] {
        let r = alice.cmd(&format!("CREATE {name}"));
        assert!(!r.tagged.starts_with("OK"), "CREATE {name}: {}", r.tagged);
        let r = alice.cmd(&format!("SELECT {name}"));
        assert!(!r.tagged.starts_with("OK"), "SELECT {name}: {}", r.tagged);
    }
    let home = server.root().join("home");
    let entries: Vec<String> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "nothing new beside the users' homes: {entries:?}"
    );
}

#[test]
fn what_roost_creates_is_private() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE Work");
    c.append("Work", "", "Subject: x\r\n\r\nx\r\n");
    c.ok("SELECT Work");
    c.ok("STORE 1 +FLAGS (\\Seen $Label)");
    let maildir = server.root().join("home/alice/Maildir");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for d in ["", ".Work", ".Work/cur", ".Work/new", ".Work/tmp"] {
        let p = maildir.join(d);
        assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}", p.display(), mode(&p));
    }
    for e in std::fs::read_dir(maildir.join(".Work")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}", p.display(), mode(&p));
        }
    }
    for e in std::fs::read_dir(maildir.join(".Work/cur")).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}", p.display(), mode(&p));
    }
}
