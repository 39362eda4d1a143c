//! BINARY (RFC 3516) over the wire: binary content comes back byte for
//! byte, BINARY.SIZE is the size of what BINARY returns (§4.3), and a
//! FETCH refused for a part sends nothing for that message.

use crate::common::{Client, TestServer};

/// APPENDs `msg` as a literal8 (`~{n+}`, RFC 3516 §4.4); returns the reply.
fn append8(c: &mut Client, msg: &[u8]) -> String {
    let tag = c.tag();
    let mut cmd = format!("{tag} APPEND INBOX ~{{{}+}}\r\n", msg.len()).into_bytes();
    cmd.extend_from_slice(msg);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd);
    c.read_reply(&tag).tagged
}

#[test]
fn binary_content_comes_back_byte_exact() {
    let server = TestServer::start();
    let mut c = server.login();
    // imaptest's append-binary: bare LFs and a CRLF in binary content.
    let body = b"\0-x\n\r\n\n";
    let mut msg = b"From: user@example.org\r\nMime-Version: 1.0\r\n\
        Content-Type: application/octet-stream\r\n\
        Content-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    msg.extend_from_slice(body);
    let r = append8(&mut c, &msg);
    assert!(r.starts_with("OK"), "{r}");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])");
    assert_eq!(
        r.untagged,
        vec!["* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\0-x\n\r\n\n)".to_string()]
    );
    // A text part keeps CRLF line ends (§6), whatever is on disk.
    c.append(
        "INBOX",
        "",
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\na\nb\r\n",
    );
    c.ok("NOOP");
    let r = c.ok("FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1])");
    assert_eq!(
        r.untagged,
        vec!["* 2 FETCH (BINARY.SIZE[1] 6 BINARY[1] {6}\r\na\r\nb\r\n)".to_string()]
    );
}

#[test]
fn binary_size_of_a_good_part_beside_a_bad_one() {
    let server = TestServer::start();
    let mut c = server.login();
    c.append(
        "INBOX",
        "",
        "Mime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n--b--\r\n",
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (BINARY.PEEK[1])");
    assert_eq!(r.untagged, vec!["* 1 FETCH (BINARY[1] {5}\r\nhello)"]);
    let r = c.ok("FETCH 1 (BINARY.SIZE[1])");
    assert_eq!(r.untagged, vec!["* 1 FETCH (BINARY.SIZE[1] 5)"]);
    let r = c.cmd("FETCH 1 (BINARY.SIZE[2])");
    assert!(r.tagged.starts_with("NO [PARSE]"), "{r:?}");
}

#[test]
fn a_refused_binary_fetch_sends_nothing_for_the_message() {
    let server = TestServer::start();
    let mut c = server.login();
    c.append("INBOX", "", "Subject: fine\r\n\r\nfine\r\n");
    c.append(
        "INBOX",
        "",
        "Subject: odd\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nodd\r\n",
    );
    c.ok("SELECT INBOX");
    for fetch in [
        "UID FETCH 2 (BINARY.PEEK[1])",
        "FETCH 2 (FLAGS BINARY.PEEK[1])",
        "FETCH 2 (BINARY.SIZE[1])",
    ] {
        let r = c.cmd(fetch);
        assert!(r.tagged.starts_with("NO [UNKNOWN-CTE]"), "{fetch}: {r:?}");
        assert!(
            r.untagged.iter().all(|l| !l.starts_with("* 2 FETCH")),
            "{fetch}: {r:?}"
        );
    }
    // The messages before the refused one are answered.
    let r = c.cmd("FETCH 1:2 (BINARY.PEEK[1])");
    assert!(r.tagged.starts_with("NO [UNKNOWN-CTE]"), "{r:?}");
    assert_eq!(r.untagged, vec!["* 1 FETCH (BINARY[1] {6}\r\nfine\r\n)"]);
}
