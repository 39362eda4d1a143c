//! Roundcube, Debian's webmail, in a real browser against Roost: served by
//! PHP's built-in web server on a loopback port with its own configuration
//! directory and SQLite database, driven in headless Chromium by
//! tests/roundcube/driver.py (Selenium). Roundcube opens one IMAP
//! connection per HTTP request; Roost's protocol trace shows what it sent.

use crate::common::TestServer;
use crate::interop::require;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDCUBE: &str = "/usr/share/roundcube";
/// Debian's Python, where python3-selenium is (not a pyenv on PATH).
const PYTHON: &str = "/usr/bin/python3";
/// The whole browser flow; it takes a few seconds.
const FLOW_LIMIT: Duration = Duration::from_secs(120);

/// Kills a child process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn messages() -> Vec<String> {
    let plain = |subject: &str, day: u32, extra: &str| {
        format!(
            "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
             Date: Mon, {day:02} Jan 2024 10:00:00 +0000\r\n{extra}\r\nHello.\r\n"
        )
    };
    let attachment = "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\n\
        Subject: Quarterly report\r\nDate: Mon, 04 Jan 2024 10:00:00 +0000\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
        --b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
        --b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
        Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSBub3QgcmVhbGx5Cg==\r\n--b1--\r\n"
        .to_string();
    vec![
        plain("Zebra crossing", 1, "Message-ID: <z@example.org>\r\n"),
        plain("Apple pie", 2, "Message-ID: <a@example.org>\r\n"),
        plain(
            "Re: Apple pie",
            3,
            "Message-ID: <r@example.org>\r\nIn-Reply-To: <a@example.org>\r\nReferences: <a@example.org>\r\n",
        ),
        attachment,
    ]
}

fn write_config(dir: &Path, imap_port: u16) {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    for f in ["defaults.inc.php", "mimetypes.php"] {
        std::fs::copy(Path::new("/etc/roundcube").join(f), config.join(f)).unwrap();
    }
    for sub in ["temp", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let d = dir.display();
    std::fs::write(
        config.join("config.inc.php"),
        format!(
            "<?php\n$config = [];\n\
             $config['db_dsnw'] = 'sqlite:///{d}/roundcube.db?mode=0600';\n\
             $config['imap_host'] = '127.0.0.1:{imap_port}';\n\
             $config['smtp_host'] = '';\n\
             $config['des_key'] = 'rOoStTeStKeY0123456789ab';\n\
             $config['plugins'] = [];\n\
             $config['skin'] = 'elastic';\n\
             $config['temp_dir'] = '{d}/temp/';\n\
             $config['log_dir'] = '{d}/logs/';\n\
             $config['enable_installer'] = false;\n\
             $config['enable_spellcheck'] = false;\n\
             $config['create_default_folders'] = false;\n\
             $config['trash_mbox'] = 'Trash';\n\
             $config['message_sort_col'] = '';\n"
        ),
    )
    .unwrap();
    let init = format!(
        "$p = new PDO('sqlite:{d}/roundcube.db'); \
         $p->exec(file_get_contents('{ROUNDCUBE}/SQL/sqlite.initial.sql'));"
    );
    let st = Command::new("php").args(["-r", &init]).status().unwrap();
    assert!(st.success(), "creating Roundcube's database");
}

/// A free loopback port for PHP's server.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn wait_listening(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "php -S did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn have_everything() -> bool {
    let tools = [
        ("php", "php-cli"),
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        ("python3", "python3-selenium"),
    ];
    if !tools.iter().all(|(p, pkg)| require(p, pkg)) {
        return false;
    }
    let selenium = Command::new(PYTHON)
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    let roundcube = Path::new(ROUNDCUBE).join("index.php").exists();
    let skip = std::env::var("ROOST_SKIP_INTEROP").is_ok_and(|v| !v.is_empty() && v != "0");
    if !(selenium && roundcube) {
        assert!(
            skip,
            "Roundcube or Selenium missing: install Debian's roundcube-core, \
             roundcube-sqlite3 and python3-selenium (tests/run does), or set \
             ROOST_SKIP_INTEROP=1 to skip"
        );
        eprintln!("note: roundcube or selenium missing, test skipped (ROOST_SKIP_INTEROP is set)");
        return false;
    }
    true
}

#[test]
fn roundcube_in_chromium_sorts_threads_moves_and_shows_quota() {
    if !have_everything() {
        return;
    }
    let trace = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .opt("trace_dir", trace.path().to_str().unwrap())
        .opt("quota_rule", "*:storage=10M")
        .start();
    let mut c = server.login();
    for folder in ["Archive", "Trash"] {
        c.ok(&format!("CREATE {folder}"));
        c.ok(&format!("SUBSCRIBE {folder}"));
    }
    for m in messages() {
        c.append("INBOX", "", &m);
    }

    let web = tempfile::tempdir().unwrap();
    write_config(web.path(), server.port);
    let port = free_port();
    let php = Command::new("php")
        .args(["-S", &format!("127.0.0.1:{port}"), "-t", ROUNDCUBE])
        .current_dir(ROUNDCUBE)
        .env("ROUNDCUBE_CONFIG_DIR", web.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start php -S");
    let _php = Killed(php);
    wait_listening(port);

    // The browser keeps nothing outside this directory.
    let browser = tempfile::tempdir().unwrap();
    let shots = tempfile::Builder::new()
        .prefix("roost-roundcube-")
        .tempdir()
        .unwrap()
        .keep();
    for sub in ["config", "cache", "tmp"] {
        std::fs::create_dir_all(browser.path().join(sub)).unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/roundcube/driver.py");
    let out_path = browser.path().join("driver.log");
    let log = std::fs::File::create(&out_path).unwrap();
    let started = Instant::now();
    let driver = Command::new(PYTHON)
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["alice", "secret"])
        .arg(&shots)
        .env("XDG_CONFIG_HOME", browser.path().join("config"))
        .env("XDG_CACHE_HOME", browser.path().join("cache"))
        .env("TMPDIR", browser.path().join("tmp"))
        .env("HOME", browser.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("run the Selenium driver");
    let mut driver = Killed(driver);
    let status = loop {
        if let Some(st) = driver.0.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > FLOW_LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    eprintln!(
        "roundcube flow took {:.1} s; screenshots (on failure) in {}\n{output}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the browser flow failed: {output}\nRoundcube's log: {}",
        std::fs::read_to_string(web.path().join("logs/errors.log")).unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&shots);

    // Roundcube asked Roost to sort and thread (not the browser or PHP).
    let mut sent = String::new();
    for e in std::fs::read_dir(trace.path()).unwrap() {
        sent.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap_or_default());
    }
    let client_lines: Vec<&str> = sent.lines().filter(|l| l.contains("C: ")).collect();
    assert!(
        client_lines.iter().any(|l| l.contains(" SORT (SUBJECT)")),
        "no SORT by subject in the trace"
    );
    assert!(
        client_lines
            .iter()
            .any(|l| l.contains(" THREAD REFS ") || l.contains(" THREAD REFERENCES ")),
        "no THREAD in the trace"
    );
    // What the flow did, seen over IMAP.
    let r = c.ok("STATUS Archive (MESSAGES)");
    assert_eq!(r.untagged, ["* STATUS Archive (MESSAGES 1)"]);
    let r = c.ok("STATUS Trash (MESSAGES)");
    assert_eq!(r.untagged, ["* STATUS Trash (MESSAGES 1)"]);
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(r.untagged, ["* STATUS INBOX (MESSAGES 2)"]);
}
