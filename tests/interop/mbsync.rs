//! mbsync (isync): a two-way sync of every folder, over STARTTLS and over
//! implicit TLS.

use super::{
    flag_list, lf, local_deliver, local_folder, require, seed, server_view, set_local_flags,
    tree_files, Held, Home, Run,
};
use crate::common::TestServer;
use std::collections::BTreeMap;

fn config(home: &Home, port: u16, ssl_type: &str) -> String {
    // Host "localhost": mbsync matches the certificate by DNS name only.
    format!(
        "IMAPAccount roost\nHost localhost\nPort {port}\nUser alice\nPass secret\n\
         SSLType {ssl_type}\nCertificateFile {ca}\n\n\
         IMAPStore roost-remote\nAccount roost\n\n\
         MaildirStore local\nPath ~/Mail/\nInbox ~/Mail/INBOX\nSubFolders Verbatim\n\n\
         Channel roost\nFar :roost-remote:\nNear :local:\nPatterns *\n\
         Create Both\nExpunge Both\nSyncState *\n",
        ca = home.ca()
    )
}

fn sync(home: &Home) -> Run {
    let run = home.run("mbsync", &["--all", "--verbose"]);
    assert!(run.ok, "mbsync failed:\n{}", run.out);
    run
}

/// The local folder for a server folder: SubFolders Verbatim maps the
/// server's "." to "/".
fn local_dir(home: &Home, folder: &str) -> std::path::PathBuf {
    home.join("Mail").join(folder.replace('.', "/"))
}

/// The message without the `X-TUID:` header line mbsync adds to every copy
/// it makes (its own transaction id).
fn without_tuid(text: &str) -> String {
    lf(text)
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("X-TUID: "))
        .collect()
}

fn two_way_sync(implicit_tls: bool) {
    if !require("mbsync", "isync") {
        return;
    }
    let server = TestServer::start();
    let seeded = seed(&server);
    let home = Home::new(&server);
    let (port, ssl_type) = if implicit_tls {
        (server.tls_port.unwrap(), "IMAPS")
    } else {
        (server.port, "STARTTLS")
    };
    home.write(".mbsyncrc", &config(&home, port, ssl_type));
    std::fs::create_dir_all(home.join("Mail")).unwrap();

    // First run: the whole tree comes down, messages byte for byte (mbsync
    // stores LF line ends) and with their flags.
    sync(&home);
    for folder in ["INBOX", "Archive", "Lists", "Lists.Rust", "Sent", "Trash"] {
        let local = local_folder(&local_dir(&home, folder));
        let mut expected: Vec<_> = seeded.iter().filter(|s| s.folder == folder).collect();
        expected.sort_by(|a, b| a.subject.cmp(&b.subject));
        assert_eq!(local.len(), expected.len(), "{folder}: {local:?}");
        for (got, want) in local.iter().zip(&expected) {
            assert_eq!(got.subject, want.subject, "{folder}");
            assert_eq!(got.flags, flag_list(want.flags), "{}", want.subject);
            assert_eq!(without_tuid(&got.text), lf(&want.text), "{}", want.subject);
        }
    }
    let server_tree = server.root().join("home/alice/Maildir");

    // Local changes: flag one message, mark another unread, delete a
    // third, write a new message and a new folder.
    let inbox = local_folder(&local_dir(&home, "INBOX"));
    let by_subject = |s: &str| inbox.iter().find(|m| m.subject == s).unwrap().clone();
    set_local_flags(&by_subject("Inbox message 0"), "FS");
    set_local_flags(&by_subject("Inbox message 1"), "");
    std::fs::remove_file(by_subject("Inbox message 3").path).unwrap();
    let new_text = "From: Alice <alice@example.org>\nTo: bob@example.org\n\
                    Subject: Written locally\n\nA new message from the laptop.\n";
    local_deliver(&local_dir(&home, "INBOX"), "local1.laptop", new_text);
    let project_text = "From: Alice <alice@example.org>\nSubject: Project plan\n\nStep one.\n";
    local_deliver(
        &local_dir(&home, "Projects"),
        "local2.laptop:2,S",
        project_text,
    );

    sync(&home);
    let mut expected: BTreeMap<String, Vec<Held>> = BTreeMap::new();
    for s in &seeded {
        let flags = match s.subject.as_str() {
            "Inbox message 0" => flag_list("\\Flagged \\Seen"),
            "Inbox message 1" => Vec::new(),
            "Inbox message 3" => continue,
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
        subject: "Written locally".into(),
        flags: Vec::new(),
    });
    expected.insert(
        "Projects".into(),
        vec![Held {
            subject: "Project plan".into(),
            flags: flag_list("\\Seen"),
        }],
    );
    for msgs in expected.values_mut() {
        msgs.sort();
    }
    assert_eq!(server_view(&server), expected);
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let r = c.ok("UID SEARCH SUBJECT \"Written locally\"");
    let uid = r.find("* SEARCH ")[0]["* SEARCH ".len()..].to_string();
    let r = c.ok(&format!("UID FETCH {uid} BODY.PEEK[TEXT]"));
    assert!(
        r.untagged[0].ends_with("\r\nA new message from the laptop.\r\n)"),
        "{r:?}"
    );
    c.ok("LOGOUT");

    // A second run finds nothing to do: neither tree changes.
    let server_before = tree_files(&server_tree);
    let local_before = tree_files(&home.join("Mail"));
    sync(&home);
    assert_eq!(tree_files(&server_tree), server_before);
    assert_eq!(tree_files(&home.join("Mail")), local_before);
    assert_eq!(server_view(&server), expected);
}

#[test]
fn mbsync_two_way_sync_over_starttls() {
    two_way_sync(false);
}

#[test]
fn mbsync_two_way_sync_over_implicit_tls() {
    two_way_sync(true);
}
