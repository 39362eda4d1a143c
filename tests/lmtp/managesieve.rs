//! ManageSieve (RFC 5804) on its own port: a raw-socket session for the
//! protocol's corners, and Debian's `sieve-connect` as the real client.
//! What is uploaded and activated is what `roost deliver` then runs.

use crate::common::TestServer;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn server(extra: &[(&str, &str)]) -> (TestServer, u16) {
    let port = free_port();
    let mut b = TestServer::builder().opt("managesieve_listen", &format!("127.0.0.1:{port}"));
    for (k, v) in extra {
        b = b.opt(k, v);
    }
    let s = b.start();
    (s, port)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Sieve {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Sieve {
    fn connect(port: u16) -> (Sieve, Vec<String>) {
        let mut tcp = None;
        for _ in 0..100 {
            if let Ok(t) = TcpStream::connect(("127.0.0.1", port)) {
                tcp = Some(t);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let tcp = tcp.expect("managesieve port never opened");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut s = Sieve {
            r: BufReader::new(tcp.try_clone().unwrap()),
            w: tcp,
        };
        let greeting = s.until_done();
        (s, greeting)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Lines up to and including the OK/NO/BYE that ends a response;
    /// literals are read in whole.
    fn until_done(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let l = self.line();
            if let Some(n) = l.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                let mut buf = vec![0; n.parse().unwrap()];
                self.r.read_exact(&mut buf).unwrap();
                out.push(String::from_utf8(buf).unwrap());
                continue;
            }
            let done = l.starts_with("OK") || l.starts_with("NO") || l.starts_with("BYE");
            out.push(l);
            if done {
                return out;
            }
        }
        panic!("no end of response");
    }

    fn cmd(&mut self, c: &str) -> Vec<String> {
        self.w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.until_done()
    }

    fn put(&mut self, name: &str, script: &str) -> Vec<String> {
        self.cmd(&format!(
            "PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}",
            script.len()
        ))
    }
}

fn last(r: &[String]) -> &str {
    r.last().unwrap()
}

#[test]
fn raw_session_covers_the_commands_and_the_active_script_runs_at_delivery() {
    let (server, port) = server(&[("sieve_quota_max_scripts", "2")]);
    let (mut s, greeting) = Sieve::connect(port);
    assert!(
        greeting
            .iter()
            .any(|l| l.starts_with("\"SIEVE\" \"fileinto ") && l.contains("vacation")),
        "{greeting:?}"
    );
    assert!(greeting.iter().any(|l| l == "\"STARTTLS\""), "{greeting:?}");
    assert!(
        greeting.iter().any(|l| l == "\"SASL\" \"PLAIN LOGIN\""),
        "{greeting:?}"
    );
    assert!(last(&greeting).starts_with("OK"));

    assert!(last(&s.cmd("LISTSCRIPTS")).starts_with("NO"));
    let bad = crate::common::b64(b"\0alice\0wrong");
    assert!(last(&s.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{bad}\""))).starts_with("NO"));
    let good = crate::common::b64(b"\0alice\0secret");
    assert!(last(&s.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{good}\""))).starts_with("OK"));

    let r = s.put("broken", "require \"fileinto\";\n\nfileinto \"A\"\n");
    assert!(
        last(&r).starts_with("NO") && last(&r).contains("line 3"),
        "{r:?}"
    );
    let r = s.cmd("CHECKSCRIPT \"bogus;\"");
    assert!(
        last(&r).starts_with("NO") && last(&r).contains("line 1"),
        "{r:?}"
    );
    assert!(last(&s.cmd("CHECKSCRIPT \"keep;\"")).starts_with("OK"));

    let script = "require \"fileinto\";\nfileinto \"Filed\";\n";
    assert!(last(&s.put("filer", script)).starts_with("OK"));
    assert!(last(&s.put("spare", "keep;")).starts_with("OK"));
    // The quota counts scripts; replacing one is fine, a third is not.
    assert!(last(&s.cmd("HAVESPACE \"filer\" 100")).starts_with("OK"));
    assert!(last(&s.cmd("HAVESPACE \"third\" 100")).starts_with("NO (QUOTA/MAXSCRIPTS)"));
    assert!(last(&s.cmd("HAVESPACE \"filer\" 99999999")).starts_with("NO (QUOTA/MAXSIZE)"));

    assert!(last(&s.cmd("SETACTIVE \"nope\"")).starts_with("NO (NONEXISTENT)"));
    assert!(last(&s.cmd("SETACTIVE \"filer\"")).starts_with("OK"));
    let list = s.cmd("LISTSCRIPTS");
    assert_eq!(
        list,
        vec![
            "\"filer\" ACTIVE",
            "\"spare\"",
            "OK \"Listscripts completed.\""
        ]
    );
    let got = s.cmd("GETSCRIPT \"filer\"");
    assert_eq!(got[0], script);
    assert!(last(&s.cmd("DELETESCRIPT \"filer\"")).starts_with("NO (ACTIVE)"));
    assert!(last(&s.cmd("RENAMESCRIPT \"spare\" \"filer\"")).starts_with("NO (ALREADYEXISTS)"));
    assert!(last(&s.cmd("RENAMESCRIPT \"filer\" \"main\"")).starts_with("OK"));
    assert_eq!(s.cmd("LISTSCRIPTS")[0], "\"main\" ACTIVE");
    assert_eq!(last(&s.cmd("NOOP \"t1\"")), "OK (TAG \"t1\") \"Done\"");

    // Pigeonhole's layout on disk.
    let home = server.root().join("home/alice");
    assert_eq!(
        std::fs::read_link(home.join(".dovecot.sieve")).unwrap(),
        std::path::Path::new("sieve/main.sieve")
    );

    // Delivery runs it.
    let mut c = server.login();
    c.ok("CREATE Filed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["deliver", "-c"])
        .arg(server.root().join("roost.conf"))
        .args(["-d", "alice"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: x\n\nhi\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let r = c.ok("STATUS Filed (MESSAGES)");
    assert!(
        r.find("* STATUS")[0].contains("MESSAGES 1"),
        "{:?}",
        r.find("* STATUS")
    );

    assert!(last(&s.cmd("UNAUTHENTICATE")).starts_with("OK"));
    assert!(last(&s.cmd("LISTSCRIPTS")).starts_with("NO"));
    assert!(last(&s.cmd("LOGOUT")).starts_with("OK"));
    let log = server.log();
    assert!(
        log.contains("managesieve") && log.contains("user=alice") && log.contains("login"),
        "{log}"
    );
    assert!(!log.contains("secret"));
}

#[test]
fn bad_input_gets_no_and_the_session_goes_on() {
    let (_server, port) = server(&[]);
    let (mut s, _) = Sieve::connect(port);
    assert!(last(&s.cmd("\"unterminated")).starts_with("NO"));
    assert!(last(&s.cmd(&"X".repeat(20_000))).starts_with("NO"));
    assert!(last(&s.cmd("AUTHENTICATE \"CRAM-MD5\"")).starts_with("NO"));
    let good = crate::common::b64(b"\0alice\0secret");
    assert!(last(&s.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{good}\""))).starts_with("OK"));
    assert!(last(&s.cmd("PUTSCRIPT \"../escape\" \"keep;\"")).starts_with("NO"));
    assert!(last(&s.cmd("PUTSCRIPT \".hidden\" \"keep;\"")).starts_with("NO"));
    let big = "#".repeat(2 << 20);
    let r = s.put("huge", &big);
    assert!(last(&r).starts_with("NO (QUOTA/MAXSIZE)"), "{r:?}");
    assert!(last(&s.cmd("LISTSCRIPTS")).starts_with("OK"));
}

/// Runs sieve-connect with the password on fd 0.
fn sieve_connect(port: u16, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("sieve-connect")
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "alice",
            "--passwordfd",
            "0",
            "--notlsverify",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sieve-connect is installed by tests/run");
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn sieve_connect_uploads_activates_lists_downloads_and_deletes() {
    if !crate::interop::require("sieve-connect", "sieve-connect") {
        return;
    }
    let (server, port) = server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("vacation.sieve");
    std::fs::write(
        &good,
        "require \"vacation\";\nvacation :days 1 \"Away.\";\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.sieve");
    std::fs::write(&bad, "require \"fileinto\";\nkeep;\nfileinto;\n").unwrap();

    let (ok, out) = sieve_connect(
        port,
        &[
            "--upload",
            "--localsieve",
            good.to_str().unwrap(),
            "--remotesieve",
            "vacation",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = sieve_connect(
        port,
        &[
            "--upload",
            "--localsieve",
            bad.to_str().unwrap(),
            "--remotesieve",
            "bad",
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("line 3"), "{out}");
    let (ok, out) = sieve_connect(port, &["--activate", "--remotesieve", "vacation"]);
    assert!(ok, "{out}");
    let (ok, out) = sieve_connect(port, &["--list"]);
    assert!(ok, "{out}");
    assert!(out.contains("\"vacation\" ACTIVE"), "{out}");
    let fetched = dir.path().join("fetched.sieve");
    let (ok, out) = sieve_connect(
        port,
        &[
            "--download",
            "--remotesieve",
            "vacation",
            "--localsieve",
            fetched.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&good).unwrap()
    );
    let (ok, out) = sieve_connect(port, &["--deactivate"]);
    assert!(ok, "{out}");
    let (ok, out) = sieve_connect(port, &["--delete", "--remotesieve", "vacation"]);
    assert!(ok, "{out}");
    let (_, out) = sieve_connect(port, &["--list"]);
    assert!(!out.contains("vacation"), "{out}");
    // sieve-connect went through STARTTLS before sending the password.
    let log = server.log();
    assert!(
        log.contains("user=alice mech=PLAIN tls=true login"),
        "{log}"
    );
}

/// CRAM-MD5, OAUTHBEARER and XOAUTH2 on ManageSieve when configured,
/// checked by the same code as IMAP's.
#[test]
fn cram_md5_and_bearer_tokens_when_configured() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("hs256.key");
    std::fs::write(&key, "sieve secret").unwrap();
    let home = d.path().join("carol").display().to_string();
    let port = free_port();
    let server = TestServer::builder()
        .opt("managesieve_listen", &format!("127.0.0.1:{port}"))
        .opt(
            "auth_mechanisms",
            "plain login cram-md5 oauthbearer xoauth2",
        )
        .opt("oauth2_hmac_key_file", &key.display().to_string())
        .passwd_line(&format!("carol:{{PLAIN}}pencil::::{home}::"))
        .start();
    let (mut s, greeting) = Sieve::connect(port);
    assert!(
        greeting
            .iter()
            .any(|l| l == "\"SASL\" \"PLAIN LOGIN OAUTHBEARER XOAUTH2 CRAM-MD5\""),
        "{greeting:?}"
    );
    let cram = |s: &mut Sieve, password: &str| -> String {
        s.w.write_all(b"AUTHENTICATE \"CRAM-MD5\"\r\n").unwrap();
        let line = s.line();
        let challenge = STANDARD.decode(line.trim_matches('"')).unwrap();
        let answer = STANDARD.encode(crate::common::cram_md5_answer(
            "carol", password, &challenge,
        ));
        s.w.write_all(format!("\"{answer}\"\r\n").as_bytes())
            .unwrap();
        last(&s.until_done()).to_string()
    };
    assert!(cram(&mut s, "wrong").starts_with("NO"));
    assert!(cram(&mut s, "pencil").starts_with("OK"));
    assert!(last(&s.cmd("LISTSCRIPTS")).starts_with("OK"));

    let token = |email: &str, exp: u64| {
        let claims = format!(r#"{{"email":"{email}","exp":{exp}}}"#);
        crate::common::hs256_token(b"sieve secret", &claims)
    };
    let now = crate::common::unix_now();
    let (mut s, _) = Sieve::connect(port);
    // An expired token: the error challenge, answered with ^A, then NO.
    let msg = STANDARD.encode(format!(
        "n,,\x01auth=Bearer {}\x01\x01",
        token("carol", now - 3600)
    ));
    s.w.write_all(format!("AUTHENTICATE \"OAUTHBEARER\" \"{msg}\"\r\n").as_bytes())
        .unwrap();
    let challenge = s.line();
    let json = STANDARD.decode(challenge.trim_matches('"')).unwrap();
    assert_eq!(json, br#"{"status":"invalid_token","schemes":"bearer"}"#);
    s.w.write_all(b"\"AQ==\"\r\n").unwrap();
    assert!(last(&s.until_done()).starts_with("NO"));
    let msg = STANDARD.encode(format!(
        "user=carol\x01auth=Bearer {}\x01\x01",
        token("carol", now + 600)
    ));
    let r = s.cmd(&format!("AUTHENTICATE \"XOAUTH2\" \"{msg}\""));
    assert!(last(&r).starts_with("OK"), "{r:?}");
    // The log line may follow the reply by a moment.
    let log = server.wait_for_log("user=carol mech=XOAUTH2 tls=false login");
    assert!(
        log.contains("user=carol mech=CRAM-MD5 tls=false login"),
        "{log}"
    );
    assert!(log.contains("managesieve conn="), "{log}");

    // A real client: sieve-connect (Perl's Authen::SASL) with CRAM-MD5.
    if crate::interop::require("sieve-connect", "sieve-connect") {
        let mut child = Command::new("sieve-connect")
            .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-u", "carol"])
            .args([
                "--passwordfd",
                "0",
                "--notlsverify",
                "--authmech",
                "CRAM-MD5",
            ])
            .arg("--list")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"pencil\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        server.wait_for_log("user=carol mech=CRAM-MD5 tls=true login");
    }
}

/// A ManageSieve session outlives the server being stopped and continued
/// (its read then ends with EINTR; see wire::sessions for IMAP).
#[test]
fn a_session_survives_the_server_being_stopped_and_continued() {
    let (server, port) = server(&[]);
    let (mut s, _) = Sieve::connect(port);
    let good = crate::common::b64(b"\0alice\0secret");
    assert!(last(&s.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{good}\""))).starts_with("OK"));
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        server.signal("STOP");
        std::thread::sleep(Duration::from_millis(100));
        server.signal("CONT");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(last(&s.cmd("LISTSCRIPTS")).starts_with("OK"));
}

/// The passdb's `nologin`, as Pigeonhole's managesieve-login answers it: a
/// user who lives on another server is sent there (RFC 5804 §1.3
/// REFERRAL), a suspended one refused with the admin's reason.
#[test]
fn referred_and_suspended_users_are_not_logged_in() {
    let port = free_port();
    let server = TestServer::builder()
        .opt("managesieve_listen", &format!("127.0.0.1:{port}"))
        .passwd_line(
            "bob:{PLAIN}secret::::/proc/roost-no-such-home::nologin host=mail2.example.org",
        )
        .passwd_line("dave:{PLAIN}secret::::/proc/roost-no-such-home::nologin reason=Unpaid")
        .start();
    let (mut s, _) = Sieve::connect(port);
    let auth = |who: &str| {
        let ir = crate::common::b64(format!("\0{who}\0secret").as_bytes());
        format!("AUTHENTICATE \"PLAIN\" \"{ir}\"")
    };
    assert_eq!(
        last(&s.cmd(&auth("bob"))),
        "NO (REFERRAL \"sieve://bob;AUTH=PLAIN@mail2.example.org/\") \"Try this server instead.\""
    );
    assert_eq!(last(&s.cmd(&auth("dave"))), "NO \"Unpaid\"");
    // Nobody was logged in, and the session goes on.
    assert!(last(&s.cmd("LISTSCRIPTS")).starts_with("NO"));
    assert!(last(&s.cmd(&auth("alice"))).starts_with("OK"));
    server.wait_for_log("user=dave mech=PLAIN authentication failed: account suspended (nologin)");
}
