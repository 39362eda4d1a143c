//! curl as an IMAP client: LIST, a message by UID and SEARCH, over
//! imap:// with STARTTLS (--ssl-reqd) and over imaps://.

use super::{require, seed, Home};
use crate::common::TestServer;

#[test]
fn curl_lists_fetches_and_searches_over_starttls_and_imaps() {
    if !require("curl", "curl") {
        return;
    }
    let server = TestServer::start();
    let seeded = seed(&server);
    let home = Home::new(&server);
    let ca = home.ca();
    let curl = |url: &str| {
        let run = home.run(
            "curl",
            &[
                "-sS",
                "--ssl-reqd",
                "--cacert",
                &ca,
                "-u",
                "alice:secret",
                url,
            ],
        );
        assert!(run.ok, "curl {url}:\n{}", run.out);
        run.out
    };
    for base in [
        format!("imap://localhost:{}/", server.port),
        format!("imaps://localhost:{}/", server.tls_port.unwrap()),
    ] {
        // A URL without a mailbox lists them all.
        let list = curl(&base);
        for name in ["INBOX", "Archive", "Lists", "Lists.Rust", "Sent", "Trash"] {
            let line = format!(" \".\" {name}\r\n");
            assert!(list.contains(&line), "{name} missing from {list}");
        }
        assert!(
            list.contains("* LIST (\\HasChildren) \".\" Lists\r\n"),
            "{list}"
        );

        // ;UID=n fetches the whole message, as appended.
        let inbox: Vec<_> = seeded.iter().filter(|s| s.folder == "INBOX").collect();
        for uid in [1, 3, 6] {
            let got = curl(&format!("{base}INBOX;UID={uid}"));
            assert_eq!(got, inbox[uid - 1].text, "UID {uid}");
        }
        let part = curl(&format!("{base}INBOX;UID=6/;SECTION=2"));
        // The CRLF before the boundary belongs to the boundary (RFC 2046 §5.1.1).
        assert_eq!(part, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");

        // A query is a SEARCH in the mailbox.
        let found = curl(&format!("{base}INBOX?SUBJECT%20%22Inbox%20message%204%22"));
        assert_eq!(found, "* SEARCH 5\r\n");
        // curl fetches BODY[], not BODY.PEEK[]: UID 1 is read now.
        let found = curl(&format!("{base}INBOX?UNSEEN"));
        assert_eq!(found, "* SEARCH 5\r\n");
        let found = curl(&format!("{base}Archive?ANSWERED"));
        assert_eq!(found, "* SEARCH 2\r\n");
    }
    // All 16 curl sessions logged in over TLS.
    let log = server.log();
    assert_eq!(log.matches(" tls=TLSv1_").count(), 16, "{log}");
}
