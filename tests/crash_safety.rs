//! Crash safety: clients APPEND, STORE, COPY, MOVE and EXPUNGE in loops
//! while the server is killed with SIGKILL at random moments and started
//! again. Whatever got a tagged OK must have happened exactly once and for
//! good; what was cut off may have happened or not, but never twice, and
//! no UID is ever reused.
//!
//! `ROOST_CRASH_ROUNDS` sets the number of kills (default 50, about half
//! a minute); the long local run uses a few hundred.

use crate::common::TestServer;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 3;

/// A client that reports every failure instead of panicking.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    tag: u32,
}

impl Raw {
    fn connect(port: u16) -> io::Result<Raw> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut c = Raw {
            stream,
            buf: Vec::new(),
            tag: 0,
        };
        let greeting = c.line()?;
        if !greeting.starts_with("* OK") {
            return Err(io::Error::other(greeting));
        }
        Ok(c)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut out = Vec::new();
        loop {
            let raw = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    let l = self.buf[..i].to_vec();
                    self.buf.drain(..i + 2);
                    break l;
                }
                let mut chunk = [0u8; 8192];
                let n = self.stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.buf.extend_from_slice(&chunk[..n]);
            };
            out.extend_from_slice(&raw);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let literal = text
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            let Some(n) = literal else {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            };
            while self.buf.len() < n {
                let mut chunk = [0u8; 8192];
                let got = self.stream.read(&mut chunk)?;
                if got == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.buf.extend_from_slice(&chunk[..got]);
            }
            out.extend(self.buf.drain(..n));
        }
    }

    /// Sends a command; the untagged lines and the tagged status.
    fn cmd(&mut self, command: &str) -> io::Result<(Vec<String>, String)> {
        self.tag += 1;
        let tag = format!("k{}", self.tag);
        self.stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())?;
        self.read_reply(&tag)
    }

    fn read_reply(&mut self, tag: &str) -> io::Result<(Vec<String>, String)> {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        for _ in 0..100_000 {
            let l = self.line()?;
            if let Some(rest) = l.strip_prefix(&prefix) {
                return Ok((untagged, rest.to_string()));
            }
            untagged.push(l);
        }
        Err(io::Error::other("no tagged reply"))
    }

    fn append(&mut self, msg: &str) -> io::Result<String> {
        self.tag += 1;
        let tag = format!("k{}", self.tag);
        self.stream
            .write_all(format!("{tag} APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes())?;
        Ok(self.read_reply(&tag)?.1)
    }
}

/// What a client knows about one message it appended.
#[derive(Clone, Debug)]
struct Own {
    /// INBOX UID from APPENDUID.
    uid: u32,
    /// Certain: present in INBOX. Uncertain after a MOVE or EXPUNGE
    /// without a reply. Gone after an acknowledged MOVE or EXPUNGE.
    state: Fate,
    /// The client's keyword as last acknowledged; None once a STORE went
    /// unanswered.
    keyword: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Present,
    Uncertain,
    Gone,
}

#[derive(Default)]
struct Ledger {
    /// Message-ID → what its client knows.
    own: HashMap<String, Own>,
    /// Message-IDs whose APPEND got no reply: there at most once.
    maybe_appended: HashSet<String>,
    /// INBOX UID → Message-ID, from every APPENDUID seen.
    inbox_uids: HashMap<u32, String>,
    /// Archive UID → Message-ID, from every acknowledged COPY/MOVE.
    archive_uids: HashMap<u32, String>,
    /// COPYs and MOVEs to Archive that got no reply, per Message-ID.
    archive_maybe: HashMap<String, usize>,
    acked: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn number_after(text: &str, key: &str) -> Option<u32> {
    let at = text.find(key)? + key.len();
    text[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `[COPYUID v src dst]` with one UID each side.
fn copyuid_dst(text: &str) -> Option<u32> {
    let at = text.find("[COPYUID ")?;
    let fields: Vec<&str> = text[at + 9..].split([' ', ']']).collect();
    fields.get(2)?.parse().ok()
}

/// One client's loop until `stop`: reconnects whenever the server died.
fn client_loop(id: usize, port: Arc<AtomicU16>, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) * 0x1000_0001));
    let keyword = format!("$c{id}");
    let mut serial = 0u32;
    let deadline = Instant::now() + Duration::from_secs(600);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let Ok(mut c) = Raw::connect(port.load(Ordering::SeqCst)) else {
            std::thread::sleep(Duration::from_millis(30));
            continue;
        };
        let ready = c
            .cmd("LOGIN alice secret")
            .and_then(|_| c.cmd("SELECT INBOX"))
            .map(|(_, t)| t.starts_with("OK"));
        if !matches!(ready, Ok(true)) {
            continue;
        }
        // Operations until the connection breaks.
        while !stop.load(Ordering::SeqCst) {
            let mine: Vec<(String, Own)> = {
                let l = ledger.lock().unwrap();
                l.own
                    .iter()
                    .filter(|(m, o)| m.starts_with(&format!("c{id}-")) && o.state == Fate::Present)
                    .map(|(m, o)| (m.clone(), o.clone()))
                    .collect()
            };
            let pick =
                (!mine.is_empty()).then(|| mine[rng.below(mine.len() as u64) as usize].clone());
            let roll = rng.below(100);
            let ok = match (roll, pick) {
                (0..=34, _) | (_, None) => {
                    serial += 1;
                    let msgid = format!("c{id}-{serial}@crash.test");
                    let msg = format!(
                        "Message-ID: <{msgid}>\r\nSubject: {msgid}\r\n\r\nbody of {msgid}\r\n{}\r\n",
                        "x".repeat(rng.below(3000) as usize)
                    );
                    ledger.lock().unwrap().maybe_appended.insert(msgid.clone());
                    match c.append(&msg) {
                        Ok(t) if t.starts_with("OK [APPENDUID ") => {
                            let uid = t
                                .split_whitespace()
                                .nth(3)
                                .and_then(|u| u.trim_end_matches(']').parse().ok())
                                .expect("APPENDUID uid");
                            let mut l = ledger.lock().unwrap();
                            l.maybe_appended.remove(&msgid);
                            let old = l.inbox_uids.insert(uid, msgid.clone());
                            assert!(
                                old.is_none(),
                                "UID {uid} handed out twice: {old:?} and {msgid}"
                            );
                            l.own.insert(
                                msgid,
                                Own {
                                    uid,
                                    state: Fate::Present,
                                    keyword: Some(false),
                                },
                            );
                            l.acked += 1;
                            true
                        }
                        Ok(t) => panic!("APPEND refused: {t}"),
                        Err(_) => false,
                    }
                }
                (35..=59, Some((msgid, own))) => {
                    let on = rng.below(2) == 0;
                    ledger.lock().unwrap().own.get_mut(&msgid).unwrap().keyword = None;
                    let sign = if on { '+' } else { '-' };
                    match c.cmd(&format!(
                        "UID STORE {} {sign}FLAGS.SILENT ({keyword})",
                        own.uid
                    )) {
                        Ok((_, t)) if t.starts_with("OK") => {
                            let mut l = ledger.lock().unwrap();
                            l.own.get_mut(&msgid).unwrap().keyword = Some(on);
                            l.acked += 1;
                            true
                        }
                        Ok((_, t)) => panic!("STORE refused: {t}"),
                        Err(_) => false,
                    }
                }
                (60..=79, Some((msgid, own))) => {
                    let is_move = roll >= 70;
                    {
                        let mut l = ledger.lock().unwrap();
                        *l.archive_maybe.entry(msgid.clone()).or_default() += 1;
                        if is_move {
                            l.own.get_mut(&msgid).unwrap().state = Fate::Uncertain;
                        }
                    }
                    let verb = if is_move { "MOVE" } else { "COPY" };
                    match c.cmd(&format!("UID {verb} {} Archive", own.uid)) {
                        Ok((untagged, t)) if t.starts_with("OK") => {
                            let all = format!("{} {t}", untagged.join(" "));
                            let dst = copyuid_dst(&all).expect("COPYUID");
                            let mut l = ledger.lock().unwrap();
                            let old = l.archive_uids.insert(dst, msgid.clone());
                            assert!(old.is_none(), "Archive UID {dst} handed out twice");
                            if let Some(n) = l.archive_maybe.get_mut(&msgid) {
                                *n -= 1;
                            }
                            if is_move {
                                l.own.get_mut(&msgid).unwrap().state = Fate::Gone;
                            }
                            l.acked += 1;
                            true
                        }
                        Ok((_, t)) => panic!("{verb} refused: {t}"),
                        Err(_) => false,
                    }
                }
                (80..=89, Some((msgid, own))) => {
                    ledger.lock().unwrap().own.get_mut(&msgid).unwrap().state = Fate::Uncertain;
                    let r = c
                        .cmd(&format!("UID STORE {} +FLAGS.SILENT (\\Deleted)", own.uid))
                        .and_then(|_| c.cmd(&format!("UID EXPUNGE {}", own.uid)));
                    match r {
                        Ok((_, t)) if t.starts_with("OK") => {
                            let mut l = ledger.lock().unwrap();
                            l.own.get_mut(&msgid).unwrap().state = Fate::Gone;
                            l.acked += 1;
                            true
                        }
                        Ok((_, t)) => panic!("EXPUNGE refused: {t}"),
                        Err(_) => false,
                    }
                }
                _ => c.cmd("NOOP").is_ok(),
            };
            if !ok {
                break;
            }
        }
    }
}

/// `(uid, message-id, keywords line)` for every message in a mailbox.
fn contents(c: &mut Raw, mailbox: &str) -> Vec<(u32, String, String)> {
    let (_, t) = c.cmd(&format!("EXAMINE {mailbox}")).unwrap();
    assert!(t.starts_with("OK"), "EXAMINE {mailbox}: {t}");
    let (lines, t) = c
        .cmd("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (Message-ID)])")
        .unwrap();
    assert!(t.starts_with("OK"), "{t}");
    lines
        .iter()
        .filter(|l| l.contains(" FETCH "))
        .map(|l| {
            let uid = number_after(l, "UID ").expect("UID");
            let id = l
                .split('<')
                .nth(1)
                .and_then(|r| r.split('>').next())
                .unwrap_or_default()
                .to_string();
            let flags = l
                .split("FLAGS (")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or_default()
                .to_string();
            (uid, id, flags)
        })
        .collect()
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("ROOST_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut server = TestServer::builder().no_tls().start();
    {
        let mut c = Raw::connect(server.port).unwrap();
        c.cmd("LOGIN alice secret").unwrap();
        let (_, t) = c.cmd("CREATE Archive").unwrap();
        assert!(t.starts_with("OK"), "{t}");
    }
    let port = Arc::new(AtomicU16::new(server.port));
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (port, stop, ledger) = (Arc::clone(&port), Arc::clone(&stop), Arc::clone(&ledger));
            std::thread::spawn(move || client_loop(id, port, stop, ledger))
        })
        .collect();
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    for _ in 0..rounds {
        // Each round lets some work be acknowledged before the kill, so a
        // busy machine slows the test down rather than making it idle.
        let before = ledger.lock().unwrap().acked;
        std::thread::sleep(Duration::from_millis(150 + rng.below(450)));
        let deadline = Instant::now() + Duration::from_secs(20);
        while ledger.lock().unwrap().acked == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        server.restart();
        port.store(server.port, Ordering::SeqCst);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    server.restart();
    for c in clients {
        c.join().expect("a client thread panicked");
    }
    let ledger = ledger.lock().unwrap();
    assert!(
        ledger.acked >= rounds,
        "too little work got done: {}",
        ledger.acked
    );

    // Roost's files parse.
    let maildir = server.root().join("home/alice/Maildir");
    for dir in [maildir.clone(), maildir.join(".Archive")] {
        let bytes = std::fs::read(dir.join("dovecot-uidlist")).unwrap();
        assert!(
            matches!(roost::store::uidlist::parse(&bytes), Ok(Some(_))),
            "{}",
            dir.display()
        );
        let uv = roost::store::uidlist::parse(&bytes)
            .unwrap()
            .unwrap()
            .uidvalidity;
        let journal = std::fs::read(dir.join("roost-modseq")).unwrap();
        assert!(
            roost::store::modseq::parse(&journal, uv).is_some(),
            "{}",
            dir.display()
        );
    }

    let mut c = Raw::connect(server.port).unwrap();
    c.cmd("LOGIN alice secret").unwrap();
    let inbox = contents(&mut c, "INBOX");
    let archive = contents(&mut c, "Archive");
    let mut in_inbox: BTreeMap<&str, Vec<(u32, &str)>> = BTreeMap::new();
    for (uid, id, flags) in &inbox {
        in_inbox
            .entry(id.as_str())
            .or_default()
            .push((*uid, flags.as_str()));
        // A UID belongs to the message that got it, for ever.
        if let Some(owner) = ledger.inbox_uids.get(uid) {
            assert_eq!(owner, id, "INBOX UID {uid} reused");
        }
    }
    for (id, copies) in &in_inbox {
        assert_eq!(copies.len(), 1, "{id} is in INBOX {} times", copies.len());
        let known = ledger.own.contains_key(*id) || ledger.maybe_appended.contains(*id);
        assert!(known, "{id} appeared from nowhere");
    }
    for (id, own) in &ledger.own {
        let here = in_inbox.get(id.as_str());
        match own.state {
            Fate::Present => {
                let (uid, flags) = here
                    .and_then(|v| v.first())
                    .unwrap_or_else(|| panic!("acknowledged {id} (UID {}) is lost", own.uid));
                assert_eq!(*uid, own.uid, "{id} changed its UID");
                let client = id.split('-').next().unwrap_or_default();
                if let Some(on) = own.keyword {
                    let kw = format!("${client}");
                    assert_eq!(
                        flags.split_whitespace().any(|f| f == kw),
                        on,
                        "acknowledged STORE on {id} did not stick: ({flags})"
                    );
                }
            }
            Fate::Gone => assert!(here.is_none(), "{id} came back after its expunge/move"),
            Fate::Uncertain => {
                if let Some(v) = here {
                    assert_eq!(v[0].0, own.uid, "{id} changed its UID");
                }
            }
        }
    }
    let mut archive_count: HashMap<&str, usize> = HashMap::new();
    for (uid, id, _) in &archive {
        *archive_count.entry(id.as_str()).or_default() += 1;
        if let Some(owner) = ledger.archive_uids.get(uid) {
            assert_eq!(owner, id, "Archive UID {uid} reused");
        }
    }
    for (uid, id) in &ledger.archive_uids {
        assert!(
            archive.iter().any(|(u, i, _)| u == uid && i == id),
            "acknowledged copy {id} (Archive UID {uid}) is lost"
        );
    }
    for (id, n) in archive_count {
        let acked = ledger
            .archive_uids
            .values()
            .filter(|v| v.as_str() == id)
            .count();
        let maybe = ledger.archive_maybe.get(id).copied().unwrap_or(0);
        assert!(
            n <= acked + maybe,
            "{id} is in Archive {n} times ({acked} acknowledged)"
        );
    }

    // Leftovers of cut-off deliveries go once they are 36 hours old.
    let old = std::time::SystemTime::now() - Duration::from_secs(37 * 3600);
    for dir in [maildir.join("tmp"), maildir.join(".Archive/tmp")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let f = std::fs::File::options()
                .write(true)
                .open(e.unwrap().path())
                .unwrap();
            f.set_modified(old).unwrap();
        }
    }
    for mailbox in ["INBOX", "Archive"] {
        let (_, t) = c.cmd(&format!("SELECT {mailbox}")).unwrap();
        assert!(t.starts_with("OK"), "{t}");
    }
    for dir in [maildir.join("tmp"), maildir.join(".Archive/tmp")] {
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{} still has {left:?}", dir.display());
    }
    eprintln!(
        "crash test: {rounds} kills, {} acknowledged operations, {} messages in INBOX, {} in Archive",
        ledger.acked,
        inbox.len(),
        archive.len()
    );
}
