//! Debian's Dovecot as the reference peer: trees Dovecot wrote are served
//! by Roost with the same UIDVALIDITY, UIDs, flags, keywords and
//! subscriptions, and Dovecot reads back what Roost changed.
//!
//! Dovecot runs as its real `imap` binary in pre-authenticated mode, fed
//! commands on stdin (package dovecot-imapd). Both servers must act as the
//! same Unix user: as root they both run as `nobody`, as Dovecot refuses
//! to touch mail as root.

use crate::common::dovecot::{dovecot, hand_over, mail_uid, DovecotSession};
use crate::common::{Client, TestServer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A message as an APPEND argument with a non-synchronizing literal.
fn append_cmd(mailbox: &str, flags: &str, subject: &str) -> String {
    let msg =
        format!("From: Ann <ann@example.org>\r\nSubject: {subject}\r\n\r\nText of {subject}.\r\n");
    format!("APPEND {mailbox} ({flags}) {{{}+}}\r\n{msg}", msg.len())
}

/// `(uid, flags without \Recent, size)` from FETCH lines of either server.
fn fetched(lines: &[String]) -> Vec<(u32, BTreeSet<String>, u64)> {
    let mut out = Vec::new();
    // Only replies that carry a UID (STORE echoes do not).
    for l in lines
        .iter()
        .filter(|l| l.starts_with("* ") && l.contains(" FETCH (") && l.contains("UID "))
    {
        let inner = &l[l.find(" FETCH (").unwrap() + 8..l.len() - 1];
        let uid = field(inner, "UID ").unwrap().parse().unwrap();
        let size = field(inner, "RFC822.SIZE ")
            .map(|s| s.parse().unwrap())
            .unwrap_or(0);
        let flags_start = inner.find("FLAGS (").unwrap() + 7;
        let flags_end = inner[flags_start..].find(')').unwrap() + flags_start;
        let flags = inner[flags_start..flags_end]
            .split_whitespace()
            .filter(|f| *f != "\\Recent")
            .map(str::to_string)
            .collect();
        out.push((uid, flags, size));
    }
    out.sort();
    out
}

fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let start = s.find(key)? + key.len();
    s[start..].split([' ', ')']).next()
}

/// The value in `* OK [KEY value]` lines.
fn code_value(lines: &[String], key: &str) -> String {
    let prefix = format!("* OK [{key} ");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
        .to_string()
}

/// Mailbox names from LIST or LSUB lines, unquoted.
fn names(lines: &[String], cmd: &str) -> BTreeSet<String> {
    let prefix = format!("* {cmd} ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            rest.rsplit(' ')
                .next()
                .unwrap()
                .trim_matches('"')
                .to_string()
        })
        .collect()
}

fn roost_lines(c: &mut Client, cmd: &str) -> Vec<String> {
    c.ok(cmd).untagged
}

fn home(server: &TestServer) -> PathBuf {
    server.root().join("home/alice")
}

fn start_server_for_shared_tree() -> TestServer {
    let server = TestServer::builder().run_as(mail_uid()).start();
    std::fs::create_dir_all(home(&server)).unwrap();
    hand_over(&home(&server));
    server
}

#[test]
fn roost_serves_a_tree_dovecot_wrote_with_the_same_uids_flags_and_folders() {
    let server = start_server_for_shared_tree();
    let home = home(&server);
    let mut cmds = vec![
        "CREATE Archive.2024".to_string(),
        "CREATE Entw&APw-rfe".to_string(),
        "SUBSCRIBE Archive.2024".to_string(),
        "SUBSCRIBE INBOX".to_string(),
    ];
    cmds.push(append_cmd("INBOX", "\\Seen", "one"));
    cmds.push(append_cmd("INBOX", "\\Seen $Forwarded", "two"));
    cmds.push(append_cmd("INBOX", "", "three"));
    cmds.push(append_cmd("INBOX", "\\Flagged $Junk", "four"));
    cmds.push(append_cmd("INBOX", "\\Draft", "five"));
    cmds.push(append_cmd("Archive.2024", "\\Seen", "old"));
    dovecot(&home, &cmds);
    // Dovecot runs pipelined commands in parallel where it can, so the
    // changes and the read-back are separate sessions.
    dovecot(
        &home,
        &[
            "SELECT INBOX",
            "STORE 2 +FLAGS (\\Deleted)",
            "EXPUNGE",
            "STORE 3 +FLAGS (\\Answered $Label1)",
        ]
        .map(String::from),
    );
    let dv = dovecot(
        &home,
        &[
            "SELECT INBOX",
            "UID FETCH 1:* (UID FLAGS RFC822.SIZE)",
            "STATUS Archive.2024 (MESSAGES UIDNEXT UIDVALIDITY)",
            "LIST \"\" *",
            "LSUB \"\" *",
        ]
        .map(String::from),
    );
    let dv_fetch = fetched(&dv);
    assert_eq!(dv_fetch.len(), 4, "{dv:?}");
    assert!(Path::new(&home.join("Maildir/dovecot-uidlist")).exists());

    let mut c = server.login();
    let sel = roost_lines(&mut c, "SELECT INBOX");
    assert_eq!(
        code_value(&sel, "UIDVALIDITY"),
        code_value(&dv, "UIDVALIDITY")
    );
    assert_eq!(code_value(&sel, "UIDNEXT"), "6");
    let ours = fetched(&roost_lines(
        &mut c,
        "UID FETCH 1:* (UID FLAGS RFC822.SIZE)",
    ));
    assert_eq!(
        ours, dv_fetch,
        "flags, keywords, UIDs and sizes as Dovecot reported"
    );
    let dv_status = dv
        .iter()
        .find(|l| l.starts_with("* STATUS"))
        .unwrap()
        .clone();
    let st = roost_lines(&mut c, "STATUS Archive.2024 (MESSAGES UIDNEXT UIDVALIDITY)");
    assert_eq!(st, vec![dv_status]);
    let list = roost_lines(&mut c, "LIST \"\" *");
    assert_eq!(names(&list, "LIST"), names(&dv, "LIST"));
    assert!(names(&list, "LIST").contains("Entw&APw-rfe"));
    let lsub = roost_lines(&mut c, "LSUB \"\" *");
    assert_eq!(names(&lsub, "LSUB"), names(&dv, "LSUB"));
}

#[test]
fn dovecot_reads_back_what_roost_changed() {
    let server = start_server_for_shared_tree();
    let home = home(&server);
    let mut cmds = vec![
        append_cmd("INBOX", "\\Seen", "a"),
        append_cmd("INBOX", "", "b"),
    ];
    cmds.push(append_cmd("INBOX", "$Forwarded", "c"));
    dovecot(&home, &cmds);

    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.ok("STORE 1 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    c.ok("STORE 1 +FLAGS ($RoostLabel \\Flagged)");
    c.append(
        "INBOX",
        "(\\Answered $RoostLabel)",
        "Subject: from roost\r\n\r\nhello\r\n",
    );
    c.ok("CREATE Made.By.Roost");
    c.ok("SUBSCRIBE Made.By.Roost");
    let ours = fetched(&roost_lines(
        &mut c,
        "UID FETCH 1:* (UID FLAGS RFC822.SIZE)",
    ));
    let ours_status = roost_lines(&mut c, "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)");
    c.ok("LOGOUT");

    let dv = dovecot(
        &home,
        &[
            "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)".into(),
            "LIST \"\" *".into(),
            "LSUB \"\" *".into(),
        ],
    );
    let mut dv_fetch = dovecot(&home, &["SELECT INBOX".into()]);
    dv_fetch.extend(dovecot(
        &home,
        &[
            "EXAMINE INBOX".into(),
            "UID FETCH 1:* (UID FLAGS RFC822.SIZE)".into(),
        ],
    ));
    assert_eq!(
        fetched(&dv_fetch),
        ours,
        "Dovecot sees Roost's UIDs, flags and keywords"
    );
    assert_eq!(ours.iter().map(|m| m.0).collect::<Vec<_>>(), vec![2, 3, 4]);
    let dv_status = dv
        .iter()
        .find(|l| l.starts_with("* STATUS"))
        .unwrap()
        .clone();
    assert_eq!(vec![dv_status], ours_status);
    assert!(names(&dv, "LIST").contains("Made.By.Roost"), "{dv:?}");
    assert!(names(&dv, "LSUB").contains("Made.By.Roost"), "{dv:?}");
}

#[test]
fn roost_and_dovecot_take_turns_without_reusing_uids() {
    let server = start_server_for_shared_tree();
    let home = home(&server);
    let mut all = Vec::new();
    for round in 0..3 {
        let dv = dovecot(
            &home,
            &[append_cmd("INBOX", "", &format!("dovecot {round}"))],
        );
        let _ = dv;
        let mut c = server.login();
        let msg = format!("Subject: roost {round}\r\n\r\nx\r\n");
        let uid = c.append("INBOX", "()", &msg);
        all.push(uid);
        c.ok("LOGOUT");
    }
    assert_eq!(
        all,
        vec![2, 4, 6],
        "UIDs interleave with Dovecot's, none reused"
    );
    let dv = dovecot(
        &home,
        &["SELECT INBOX".into(), "UID FETCH 1:* (UID FLAGS)".into()],
    );
    let uids: Vec<u32> = fetched(&dv).iter().map(|m| m.0).collect();
    assert_eq!(uids, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn dovecot_and_roost_serving_one_tree_at_once_agree_on_uids() {
    let server = start_server_for_shared_tree();
    let home = home(&server);
    dovecot(&home, &[append_cmd("INBOX", "", "seed")]);
    let mut dv = DovecotSession::start(&home);
    let mut c = server.login();
    dv.cmd("SELECT INBOX");
    c.ok("SELECT INBOX");
    let mut appended = Vec::new();
    for round in 0..5 {
        let (_, t) = dv.cmd(&append_cmd("INBOX", "", &format!("dv{round}")));
        assert!(t.starts_with("OK [APPENDUID "), "{t}");
        appended.push(
            t.split_whitespace()
                .nth(3)
                .unwrap()
                .trim_end_matches(']')
                .parse::<u32>()
                .unwrap(),
        );
        let msg = format!("Subject: roost{round}\r\n\r\nx\r\n");
        appended.push(c.append("INBOX", "", &msg));
        // Flags set on one side are seen on the other.
        c.ok(&format!(
            "UID STORE {} +FLAGS (\\Flagged)",
            appended[appended.len() - 2]
        ));
        dv.cmd(&format!(
            "UID STORE {} +FLAGS (\\Seen)",
            appended[appended.len() - 1]
        ));
    }
    let mut sorted = appended.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        appended.len(),
        "a UID was handed out twice: {appended:?}"
    );
    let (dv_lines, _) = dv.cmd("UID FETCH 1:* (UID FLAGS)");
    let ours = fetched(&c.ok("UID FETCH 1:* (UID FLAGS)").untagged);
    assert_eq!(fetched(&dv_lines), ours);
    assert_eq!(ours.len(), 11, "nothing lost or duplicated: {ours:?}");
}

/// A subscription outliving its mailbox is listed by LSUB with no
/// attributes, as Dovecot does; an unsubscribed parent of a subscribed
/// name stays `\Noselect` under `%` (RFC 3501 §6.3.9).
#[test]
fn lsub_of_a_deleted_subscribed_mailbox_matches_dovecot() {
    let server = start_server_for_shared_tree();
    let home = home(&server);
    dovecot(
        &home,
        &[
            "CREATE Keep",
            "SUBSCRIBE Keep",
            "CREATE Box.Sub",
            "SUBSCRIBE Box.Sub",
            "CREATE Old.Gone",
            "SUBSCRIBE Old.Gone",
        ]
        .map(String::from),
    );
    dovecot(&home, &["DELETE Old.Gone".to_string()]);
    let lsubs = ["LSUB \"\" *", "LSUB \"\" %", "LSUB \"\" Old.*"];
    let dv = dovecot(&home, &lsubs.map(String::from));
    let mut c = server.login();
    for (i, cmd) in lsubs.iter().enumerate() {
        let tag = format!("d{} ", i + 1);
        let start = if i == 0 {
            0
        } else {
            dv.iter()
                .position(|l| l.starts_with(&format!("d{i} ")))
                .unwrap()
                + 1
        };
        let mut want: Vec<String> = dv[start..]
            .iter()
            .take_while(|l| !l.starts_with(&tag))
            .cloned()
            .collect();
        want.sort();
        let mut got = roost_lines(&mut c, cmd);
        got.sort();
        assert_eq!(got, want, "{cmd}");
    }
}

/// Roost's save date (`T` field of a uidlist record) survives Dovecot
/// rewriting the uidlist: Dovecot keeps record fields it does not know.
#[test]
fn dovecot_keeps_roosts_save_date_field_when_it_rewrites_the_uidlist() {
    let mut server = start_server_for_shared_tree();
    let home = home(&server);
    let mut c = server.login();
    c.append("INBOX", "", "Subject: a\r\n\r\nmail\r\n");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    let line = r.find("* 1 FETCH")[0].to_string();
    c.ok("LOGOUT");
    let path = home.join("Maildir/dovecot-uidlist");
    let before = std::fs::read_to_string(&path).unwrap();
    let record = before.lines().nth(1).unwrap().to_string();
    assert!(record.starts_with("1 T"), "{before}");
    // Without its mailbox GUID the file is one Dovecot writes anew.
    let header = before.lines().next().unwrap();
    let no_guid: Vec<&str> = header.split(' ').filter(|f| !f.starts_with('G')).collect();
    std::fs::write(&path, format!("{}\n{record}\n", no_guid.join(" "))).unwrap();
    let dv = dovecot(
        &home,
        &["SELECT INBOX", "STORE 1 +FLAGS (\\Seen)"].map(String::from),
    );
    assert!(dv.iter().any(|l| l.starts_with("d2 OK")), "{dv:?}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.lines().next().unwrap().contains(" G"), "{after}");
    let field = record.split(' ').nth(1).unwrap();
    assert!(after.lines().nth(1).unwrap().contains(field), "{after}");
    server.restart();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    assert_eq!(r.find("* 1 FETCH")[0], line);
}
