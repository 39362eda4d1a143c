//! FETCH PREVIEW (RFC 8970): a short excerpt of the first text part, with
//! quoted lines left out; `PREVIEW (LAZY)` answers the same.

use crate::common::TestServer;

#[test]
fn preview_gives_the_start_of_the_text() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"PREVIEW".to_string()));
    c.append(
        "INBOX",
        "",
        "Subject: a\r\n\r\nHello  Alice,\r\n> what you wrote\r\nthe report is ready.\r\n",
    );
    c.append(
        "INBOX",
        "",
        "Subject: b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: image/png\r\n\r\nPNG\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>Dear <b>Bob</b></p>\r\n--x--\r\n",
    );
    c.append(
        "INBOX",
        "",
        "Subject: c\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n",
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1:3 (PREVIEW)");
    let lines = r.find("* ");
    assert!(
        lines[0].ends_with("(PREVIEW \"Hello Alice, the report is ready.\")"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("(PREVIEW \"Dear Bob\")"), "{lines:?}");
    assert!(lines[2].ends_with("(PREVIEW \"\")"), "{lines:?}");
    let r = c.ok("UID FETCH 1 (PREVIEW (LAZY))");
    assert!(
        r.find("* 1 FETCH")[0].contains("PREVIEW \"Hello Alice"),
        "{:?}",
        r.untagged
    );
    assert!(c.cmd("FETCH 1 (PREVIEW (EAGER))").tagged.contains("BAD"));
}
