//! SPECIAL-USE folders as mbsync and offlineimap see them, configured the
//! way users configure them (`Patterns`, `folderfilter`). Both tools must
//! be installed (Debian: isync, offlineimap3); a missing one fails.

use crate::common::{run_tool, TestServer};

fn server() -> TestServer {
    TestServer::builder()
        .no_tls()
        .opt("autocreate_special_use", "yes")
        .start()
}

#[test]
fn mbsync_with_patterns_syncs_the_special_folders() {
    let server = server();
    let mut c = server.login();
    c.append("Sent", "(\\Seen)", "Subject: sent one\r\n\r\nx\r\n");
    c.append("Drafts", "(\\Draft)", "Subject: a draft\r\n\r\ny\r\n");
    let local = server.root().join("mbsync-local");
    // mbsync wants the Maildir root to be there.
    std::fs::create_dir_all(&local).unwrap();
    let conf = server.root().join("mbsyncrc");
    std::fs::write(
        &conf,
        format!(
            "IMAPAccount roost\nHost 127.0.0.1\nPort {}\nUser alice\nPass secret\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount roost\n\n\
             MaildirStore local\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX Sent Drafts Trash\n\
             Create Near\nSyncState *\n",
            server.port,
            l = local.display()
        ),
    )
    .unwrap();
    let (ok, out, err) = run_tool("mbsync", &["-c", conf.to_str().unwrap(), "-a"], b"");
    assert!(ok, "mbsync failed:\n{out}\n{err}");
    for folder in ["Sent", "Drafts", "Trash"] {
        assert!(
            local.join(folder).join("cur").is_dir(),
            "{folder}: {out}{err}"
        );
    }
    // Not in Patterns: left alone although they exist on the server.
    assert!(!local.join("Junk").exists() && !local.join("Archive").exists());
    // Unseen mail lands in new/, seen mail in cur/.
    let count = |f: &str| {
        ["cur", "new"]
            .iter()
            .map(|d| std::fs::read_dir(local.join(f).join(d)).unwrap().count())
            .sum::<usize>()
    };
    assert_eq!((count("Sent"), count("Drafts")), (1, 1));
}

#[test]
fn offlineimap_with_folderfilter_syncs_the_special_folders() {
    let server = server();
    let mut c = server.login();
    c.append("Sent", "(\\Seen)", "Subject: sent one\r\n\r\nx\r\n");
    c.append("Junk", "", "Subject: spam\r\n\r\nz\r\n");
    let local = server.root().join("oi-local");
    let meta = server.root().join("oi-meta");
    let conf = server.root().join("offlineimaprc");
    std::fs::write(
        &conf,
        format!(
            "[general]\naccounts = roost\nmetadata = {meta}\n\n\
             [Account roost]\nlocalrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {local}\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = alice\nremotepass = secret\nssl = no\nstarttls = no\n\
             folderfilter = lambda f: f in ['INBOX', 'Sent', 'Drafts', 'Trash']\n",
            meta = meta.display(),
            local = local.display(),
            port = server.port
        ),
    )
    .unwrap();
    let (ok, out, err) = run_tool(
        "offlineimap",
        &["-c", conf.to_str().unwrap(), "-o", "-u", "basic"],
        b"",
    );
    assert!(ok, "offlineimap failed:\n{out}\n{err}");
    for folder in ["Sent", "Drafts", "Trash"] {
        assert!(
            local.join(folder).join("cur").is_dir(),
            "{folder}: {out}{err}"
        );
    }
    assert!(!local.join("Junk").exists(), "filtered out");
    let sent = std::fs::read_dir(local.join("Sent").join("cur"))
        .unwrap()
        .count();
    assert_eq!(sent, 1);
}
