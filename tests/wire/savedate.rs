//! SAVEDATE (RFC 8514): FETCH SAVEDATE and the SAVED* search keys. The
//! save date is the message file's ctime when it got its UID (as Dovecot
//! reads it for Maildir), kept in the uidlist; a COPY's hard link gives
//! the copy a new save date and leaves the source's as it was, and so
//! does a flag change (a rename), also after a restart.

use crate::common::TestServer;
use std::os::unix::fs::MetadataExt;

/// The quoted date-time after `SAVEDATE ` in a FETCH line.
fn save_date(line: &str) -> String {
    let at = line.find("SAVEDATE \"").unwrap_or_else(|| panic!("{line}")) + 10;
    line[at..at + 26].to_string()
}

/// `7-Dec-2026` from `07-Dec-2026 10:50:10 +0000`.
fn day_of(date: &str) -> String {
    date[..11].trim_start_matches('0').to_string()
}

#[test]
fn savedate_is_when_the_message_came_into_the_mailbox() {
    let mut server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"SAVEDATE".to_string()));
    // Received in 2020, saved now.
    c.append(
        "INBOX",
        "\"01-Jan-2020 10:00:00 +0000\"",
        "Subject: a\r\n\r\nold mail\r\n",
    );
    c.ok("CREATE Foo");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE INTERNALDATE)");
    let line = r.find("* 1 FETCH")[0].to_string();
    assert!(
        line.contains("INTERNALDATE \"01-Jan-2020 10:00:00 +0000\""),
        "{line}"
    );
    let saved = save_date(&line);
    // The file's ctime, in UTC.
    let cur = server.root().join("home/alice/Maildir/cur");
    {
        let path = std::fs::read_dir(cur)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let ctime = std::fs::metadata(&path).unwrap().ctime();
        let secs_in_day = ctime.rem_euclid(86_400);
        let hms = format!(
            "{:02}:{:02}:{:02}",
            secs_in_day / 3600,
            secs_in_day / 60 % 60,
            secs_in_day % 60
        );
        assert!(saved.contains(&hms), "{saved} vs ctime {hms}");
    }
    let day = day_of(&saved);

    // RFC 8514 §4.2: the save-date keys compare the save date's day.
    let r = c.ok("SEARCH SAVEDATESUPPORTED");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1"]);
    let r = c.ok(&format!("SEARCH SAVEDON {day}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1"]);
    let r = c.ok(&format!("SEARCH SAVEDSINCE {day}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1"]);
    let r = c.ok(&format!("SEARCH SAVEDBEFORE {day}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH"]);
    // The internal date is 2020; the save date is not.
    let r = c.ok("SEARCH BEFORE 1-Jan-2021");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1"]);
    let r = c.ok("SEARCH SAVEDBEFORE 1-Jan-2021");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH"]);
    let r = c.ok("UID SEARCH OR SAVEDON 1-Jan-2020 NOT SAVEDSINCE 1-Jan-2021");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH"]);

    // After a restart (nothing remembered), a second later, so a changed
    // ctime would show.
    c.ok("LOGOUT");
    server.restart();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.ok("STORE 1 +FLAGS (\\Flagged)");
    c.ok("COPY 1 Foo");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    assert_eq!(save_date(r.find("* 1 FETCH")[0]), saved, "{r:?}");
    c.ok("SELECT Foo");
    let r = c.ok("FETCH 1 (SAVEDATE INTERNALDATE)");
    let line = r.find("* 1 FETCH")[0];
    // The copy keeps the internal date and gets its own save date.
    assert!(
        line.contains("INTERNALDATE \"01-Jan-2020 10:00:00 +0000\""),
        "{line}"
    );
    assert_ne!(save_date(line), saved, "{line}");
    assert!(c.cmd("FETCH 1 (SAVEDATE)").tagged.starts_with("OK"));
    assert!(c
        .cmd("SEARCH SAVEDON 32-Jan-2020")
        .tagged
        .starts_with("BAD"));
}

#[test]
fn savedate_survives_flag_changes_and_restarts() {
    let mut server = TestServer::start();
    let mut c = server.login();
    c.append("INBOX", "", "Subject: a\r\n\r\nmail\r\n");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    let saved = save_date(r.find("* 1 FETCH")[0]);
    c.ok("LOGOUT");
    // A second later, so a rename's ctime would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server.restart();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.ok("STORE 1 +FLAGS (\\Seen)");
    c.ok("LOGOUT");
    server.restart();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    assert_eq!(save_date(r.find("* 1 FETCH")[0]), saved, "{r:?}");
    // Kept as a `T<seconds>` field of the message's dovecot-uidlist record.
    let uidlist =
        std::fs::read_to_string(server.root().join("home/alice/Maildir/dovecot-uidlist")).unwrap();
    let record = uidlist.lines().nth(1).unwrap();
    assert!(record.starts_with("1 T"), "{uidlist}");
}
