//! offlineimap (Debian's offlineimap3): a full sync to a local Maildir over
//! STARTTLS with two connections at once, as most setups have it, then
//! local changes synced back.

use super::{
    flag_list, lf, local_deliver, local_folder, require, seed, server_view, set_local_flags,
    tree_files, Held, Home, Run,
};
use crate::common::TestServer;
use std::collections::BTreeMap;

/// STARTTLS on the plain port (`ssl = no`, `starttls = yes`); two
/// connections sync folders side by side (issue 26 hung one of them).
fn config(home: &Home, port: u16) -> String {
    format!(
        "[general]\naccounts = roost\nmetadata = ~/.offlineimap\n\n\
         [Account roost]\nlocalrepository = local\nremoterepository = remote\n\n\
         [Repository local]\ntype = Maildir\nlocalfolders = ~/Mail\n\n\
         [Repository remote]\ntype = IMAP\nremotehost = localhost\nremoteport = {port}\n\
         remoteuser = alice\nremotepass = secret\nssl = no\nstarttls = yes\n\
         sslcacertfile = {ca}\nmaxconnections = 2\n",
        ca = home.ca()
    )
}

fn sync(home: &Home) -> Run {
    // -o: one run, not a daemon; -u basic: plain progress lines.
    let run = home.run("offlineimap", &["-o", "-u", "basic"]);
    assert!(
        run.ok && !run.out.contains("ERROR"),
        "offlineimap failed:\n{}",
        run.out
    );
    run
}

#[test]
fn offlineimap_syncs_both_ways() {
    if !require("offlineimap", "offlineimap3") {
        return;
    }
    let server = TestServer::start();
    let seeded = seed(&server);
    let home = Home::new(&server);
    home.write(".offlineimaprc", &config(&home, server.port));
    let mail = home.join("Mail");

    // The first run brings down every folder (named as on the server,
    // "." and all), each message with its flags, LF line ends.
    let seeding_log = server.log().len();
    sync(&home);
    // offlineimap's logins all came after STARTTLS (seeding logged in
    // without TLS).
    let log = server.log();
    let synced = &log[seeding_log..];
    assert!(synced.contains(" tls=TLSv1_3 "), "{synced}");
    assert!(!synced.contains(" tls=no "), "{synced}");
    for folder in ["INBOX", "Archive", "Lists", "Lists.Rust", "Sent", "Trash"] {
        assert!(
            mail.join(folder).join("cur").is_dir(),
            "{folder} not created"
        );
        let local = local_folder(&mail.join(folder));
        let mut expected: Vec<_> = seeded.iter().filter(|s| s.folder == folder).collect();
        expected.sort_by(|a, b| a.subject.cmp(&b.subject));
        assert_eq!(local.len(), expected.len(), "{folder}: {local:?}");
        for (got, want) in local.iter().zip(&expected) {
            assert_eq!(got.subject, want.subject, "{folder}");
            assert_eq!(got.flags, flag_list(want.flags), "{}", want.subject);
            assert_eq!(lf(&got.text), lf(&want.text), "{}", want.subject);
        }
    }

    // Local changes: flags set and cleared, a deletion, a new message and
    // a new folder.
    let inbox = local_folder(&mail.join("INBOX"));
    let by_subject = |s: &str| inbox.iter().find(|m| m.subject == s).unwrap().clone();
    set_local_flags(&by_subject("Inbox message 4"), "F");
    set_local_flags(&by_subject("Inbox message 2"), "S");
    std::fs::remove_file(by_subject("Inbox message 5").path).unwrap();
    local_deliver(
        &mail.join("INBOX"),
        "o1.laptop:2,S",
        "From: Alice <alice@example.org>\nSubject: Offline draft\n\nWritten offline.\n",
    );
    local_deliver(
        &mail.join("Notes"),
        "o2.laptop",
        "From: Alice <alice@example.org>\nSubject: A note\n\nRemember this.\n",
    );
    sync(&home);

    let mut expected: BTreeMap<String, Vec<Held>> = BTreeMap::new();
    for s in &seeded {
        let flags = match s.subject.as_str() {
            "Inbox message 4" => flag_list("\\Flagged"),
            "Inbox message 2" => flag_list("\\Seen"),
            "Inbox message 5" => continue,
            _ => flag_list(s.flags),
        };
        expected
            .entry(s.folder.to_string())
            .or_default()
            .push(Held {
                subject: s.subject.clone(),
                flags,
            });
    }
    for f in ["Lists", "Trash"] {
        expected.entry(f.to_string()).or_default();
    }
    expected.get_mut("INBOX").unwrap().push(Held {
        subject: "Offline draft".into(),
        flags: flag_list("\\Seen"),
    });
    expected.insert(
        "Notes".into(),
        vec![Held {
            subject: "A note".into(),
            flags: Vec::new(),
        }],
    );
    for msgs in expected.values_mut() {
        msgs.sort();
    }
    assert_eq!(server_view(&server), expected);

    // Nothing left to do: a further run changes neither side.
    let server_tree = server.root().join("home/alice/Maildir");
    let server_before = tree_files(&server_tree);
    let local_before = tree_files(&mail);
    let run = sync(&home);
    assert!(!run.out.contains("Copy message"), "{}", run.out);
    assert_eq!(tree_files(&server_tree), server_before);
    assert_eq!(tree_files(&mail), local_before);
}

const TLS_RACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/tls_race.py");

/// Issue 26: offlineimap's imaplib2 reads and writes one TLS socket from
/// two threads; records the server sends unasked after the handshake
/// (session tickets) made it lose its first command now and then (one
/// STARTTLS in 20 here), and wait 60 s. The script does what imaplib2
/// does, 200 times, and stops at the first command without a reply.
#[test]
fn a_two_thread_tls_client_never_loses_its_first_command() {
    if !require("python3", "python3") {
        return;
    }
    let server = TestServer::start();
    let home = Home::new(&server);
    let run = home.run(
        "python3",
        &[TLS_RACE, &server.port.to_string(), &home.ca(), "200"],
    );
    assert!(
        run.ok && run.out.contains("none lost in 200 attempts"),
        "{}",
        run.out
    );
}
