//! ESEARCH with the MODSEQ search key (RFC 4731 §3.2, RFC 7162 §3.1.10):
//! which mod-sequence the MODSEQ result option carries.

use crate::common::{number_after, Client, TestServer};

fn esearch(c: &mut Client, command: &str) -> String {
    let r = c.ok(command);
    let lines = r.find("* ESEARCH");
    assert_eq!(lines.len(), 1, "{r:?}");
    let line = lines[0];
    // Drop `* ESEARCH (TAG "tN")`: the rest is what is compared.
    line[line.find(')').unwrap() + 2..].to_string()
}

#[test]
fn modseq_result_follows_min_and_max() {
    let server = TestServer::start();
    let mut c = server.login();
    for i in 1..=4 {
        c.append("INBOX", "", &format!("Subject: m{i}\r\n\r\nx\r\n"));
    }
    c.ok("SELECT INBOX (CONDSTORE)");
    // \Seen set in the order 1, 3, 2, 4: modseqs m1 < m3 < m2 < m4
    // (imaptest's esearch-condstore).
    let mut m = [0u64; 5];
    for i in [1usize, 3, 2, 4] {
        let r = c.ok(&format!("STORE {i} +FLAGS (\\Seen)"));
        m[i] = number_after(&r.untagged[0], "MODSEQ");
    }
    assert!(m[1] < m[3] && m[3] < m[2] && m[2] < m[4], "{m:?}");
    let q = "MODSEQ \"/flags/\\\\seen\" all 1";
    // A single MIN or MAX: that message's mod-sequence.
    assert_eq!(
        esearch(&mut c, &format!("SEARCH RETURN (MIN) 1:3 {q}")),
        format!("MIN 1 MODSEQ {}", m[1])
    );
    assert_eq!(
        esearch(&mut c, &format!("SEARCH RETURN (MAX) 1:3 {q}")),
        format!("MAX 3 MODSEQ {}", m[3])
    );
    // MIN and MAX alone: the higher of those two, not of all matches.
    assert_eq!(
        esearch(&mut c, &format!("SEARCH RETURN (MIN MAX) 1:3 {q}")),
        format!("MIN 1 MAX 3 MODSEQ {}", m[3])
    );
    // With ALL or COUNT: the highest of all matches.
    assert_eq!(
        esearch(&mut c, &format!("SEARCH RETURN (MIN COUNT) 1:3 {q}")),
        format!("MIN 1 COUNT 3 MODSEQ {}", m[2])
    );
    assert_eq!(
        esearch(&mut c, &format!("SEARCH RETURN () 1:3 {q}")),
        format!("ALL 1:3 MODSEQ {}", m[2])
    );
    assert_eq!(
        esearch(&mut c, &format!("UID SEARCH RETURN (MAX SAVE) 1:3 {q}")),
        format!("UID MAX 3 MODSEQ {}", m[3])
    );
}
