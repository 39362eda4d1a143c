//! Command-line options.

use std::time::Duration;

pub const MAX_CLIENTS: usize = 1000;
/// With only `--ops`, a run still ends after this long.
const OPS_ONLY_LIMIT: Duration = Duration::from_secs(3600);

/// The operations of the mix, by the names `--mix` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Select,
    Examine,
    Noop,
    FetchFlags,
    FetchEnvelope,
    FetchStructure,
    FetchBody,
    FetchPartial,
    Store,
    Search,
    Append,
    Copy,
    Move,
    Expunge,
    Idle,
    Logout,
}

/// Default weights: mostly reads and flag changes, as a mail client does.
pub const DEFAULT_MIX: &[(Op, &str, u32)] = &[
    (Op::Select, "select", 4),
    (Op::Examine, "examine", 1),
    (Op::Noop, "noop", 8),
    (Op::FetchFlags, "flags", 12),
    (Op::FetchEnvelope, "envelope", 8),
    (Op::FetchStructure, "bodystructure", 6),
    (Op::FetchBody, "body", 8),
    (Op::FetchPartial, "partial", 5),
    (Op::Store, "store", 12),
    (Op::Search, "search", 6),
    (Op::Append, "append", 6),
    (Op::Copy, "copy", 3),
    (Op::Move, "move", 3),
    (Op::Expunge, "expunge", 5),
    (Op::Idle, "idle", 4),
    (Op::Logout, "logout", 1),
];

pub struct Config {
    /// Client `id` connects to `servers[id % len]` (nodes sharing a store).
    pub servers: Vec<String>,
    pub users: Vec<(String, String)>,
    pub clients: usize,
    /// When the run stops taking new operations.
    pub duration: Duration,
    pub ops: Option<u64>,
    pub seed: u64,
    pub seed_messages: usize,
    pub mailboxes: Vec<String>,
    pub timeout: Duration,
    pub mix: Vec<(Op, u32)>,
    /// Clients per user that own a private keyword ($c0, $c1, ...).
    pub private_keywords: usize,
    pub max_findings: usize,
    pub idle_ms: u64,
    /// Lines of each client's recent conversation shown with a finding.
    pub history: usize,
}

pub fn usage(program: &str, opts: &getopts::Options) -> String {
    let brief = format!(
        "Usage: {program} [options] --user NAME:PASS [--user ...]\n\n\
         Load and consistency tester for IMAP4rev1 servers: N clients run a\n\
         weighted random mix of commands and check every response against what\n\
         they and the other clients did. Exit status: 0 clean, 1 inconsistencies\n\
         found, 2 bad usage or setup failure, 3 errors (timeouts, refused\n\
         connections, transient NO) but no inconsistency."
    );
    let mut s = opts.usage(&brief);
    s.push_str("\nOperations for --mix (name=weight, comma-separated; default):\n  ");
    let names: Vec<String> = DEFAULT_MIX
        .iter()
        .map(|(_, n, w)| format!("{n}={w}"))
        .collect();
    s.push_str(&names.join(","));
    s.push('\n');
    s
}

pub fn options() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.optmulti(
        "s",
        "server",
        "server address (default 127.0.0.1:143); repeat or comma-separate \
         for several nodes of one store, clients spread over them in turn",
        "HOST:PORT",
    );
    o.optmulti("u", "user", "a login, repeatable", "NAME:PASS");
    o.optopt("", "users-file", "logins, one NAME:PASS per line", "FILE");
    o.optopt(
        "c",
        "clients",
        "concurrent clients, 1 to 1000 (default 20)",
        "N",
    );
    o.optopt(
        "d",
        "duration",
        "seconds to run (default 30 unless --ops)",
        "SECS",
    );
    o.optopt("n", "ops", "stop after this many operations in all", "N");
    o.optopt(
        "",
        "seed",
        "random seed (default: from the clock; printed)",
        "N",
    );
    o.optopt(
        "",
        "seed-messages",
        "messages APPENDed per user before the run (default 30)",
        "N",
    );
    o.optopt(
        "",
        "mailboxes",
        "mailboxes used, created if missing (default INBOX,Load1,Load2)",
        "LIST",
    );
    o.optopt(
        "",
        "timeout",
        "seconds one command may take (default 30)",
        "SECS",
    );
    o.optopt(
        "",
        "mix",
        "operation weights, e.g. fetch=5,store=2 (others keep defaults)",
        "LIST",
    );
    o.optopt(
        "",
        "private-keywords",
        "clients per user with a private keyword (default 16, max 20)",
        "N",
    );
    o.optopt(
        "",
        "max-findings",
        "inconsistencies printed in full (default 50)",
        "N",
    );
    o.optopt(
        "",
        "idle-ms",
        "longest IDLE before DONE, in ms; each lasts 1/5 to all of it (default 1000)",
        "MS",
    );
    o.optopt(
        "",
        "history",
        "show the client's last N lines with each inconsistency (default 0)",
        "N",
    );
    o.optflag("h", "help", "this help");
    o
}

fn number<T: std::str::FromStr>(m: &getopts::Matches, name: &str, default: T) -> Result<T, String> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("--{name}: not a number: {v:?}")),
    }
}

fn login(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok((u.to_string(), p.to_string())),
        _ => Err(format!("expected NAME:PASS, got {s:?}")),
    }
}

pub fn parse(m: &getopts::Matches) -> Result<Config, String> {
    let mut users = Vec::new();
    for u in m.opt_strs("user") {
        users.push(login(&u)?);
    }
    if let Some(f) = m.opt_str("users-file") {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{f}: {e}"))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            users.push(login(line).map_err(|e| format!("{f}: {e}"))?);
        }
    }
    if users.is_empty() {
        return Err("no users: give --user NAME:PASS or --users-file".into());
    }
    let clients: usize = number(m, "clients", 20)?;
    if clients == 0 || clients > MAX_CLIENTS {
        return Err(format!("--clients must be 1 to {MAX_CLIENTS}"));
    }
    let ops: Option<u64> = match m.opt_str("ops") {
        None => None,
        Some(_) => Some(number(m, "ops", 0)?),
    };
    let duration = match (m.opt_str("duration"), ops) {
        (Some(_), _) => Duration::from_secs_f64(number(m, "duration", 30.0f64)?.max(0.0)),
        (None, Some(_)) => OPS_ONLY_LIMIT,
        (None, None) => Duration::from_secs(30),
    };
    let seed = match m.opt_str("seed") {
        Some(_) => number(m, "seed", 0)?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    let mailboxes: Vec<String> = m
        .opt_str("mailboxes")
        .unwrap_or_else(|| "INBOX,Load1,Load2".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if mailboxes.is_empty() {
        return Err("--mailboxes is empty".into());
    }
    if let Some(bad) = mailboxes.iter().find(|b| {
        b.bytes()
            .any(|c| c < 0x20 || c == b'"' || c == b'\\' || c >= 0x7f)
    }) {
        return Err(format!(
            "mailbox name {bad:?}: only printable ASCII without quotes"
        ));
    }
    let mut mix: Vec<(Op, u32)> = DEFAULT_MIX.iter().map(|&(op, _, w)| (op, w)).collect();
    if let Some(spec) = m.opt_str("mix") {
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (name, w) = part
                .split_once('=')
                .ok_or_else(|| format!("--mix: expected name=weight, got {part:?}"))?;
            let w: u32 = w.parse().map_err(|_| format!("--mix: bad weight {w:?}"))?;
            let op = DEFAULT_MIX
                .iter()
                .find(|(_, n, _)| *n == name)
                .map(|(op, _, _)| *op)
                .ok_or_else(|| format!("--mix: unknown operation {name:?}"))?;
            for entry in mix.iter_mut().filter(|(o, _)| *o == op) {
                entry.1 = w;
            }
        }
    }
    if mix.iter().all(|(_, w)| *w == 0) {
        return Err("--mix: every weight is 0".into());
    }
    let private_keywords: usize = number(m, "private-keywords", 16)?;
    if private_keywords > 20 {
        // Maildir has 26 keyword letters per mailbox; leave some free.
        return Err("--private-keywords: at most 20".into());
    }
    let timeout = Duration::from_secs_f64(number(m, "timeout", 30.0f64)?.max(0.1));
    Ok(Config {
        servers: servers(m),
        users,
        clients,
        duration,
        ops,
        seed,
        seed_messages: number(m, "seed-messages", 30)?,
        mailboxes,
        timeout,
        mix,
        private_keywords,
        max_findings: number(m, "max-findings", 50)?,
        idle_ms: number(m, "idle-ms", 1000)?,
        history: number::<usize>(m, "history", 0)?.min(1000),
    })
}

/// `--server` values, split at commas; the default when none is given.
fn servers(m: &getopts::Matches) -> Vec<String> {
    let list: Vec<String> = m
        .opt_strs("server")
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        vec!["127.0.0.1:143".into()]
    } else {
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Result<Config, String> {
        let m = options().parse(args).map_err(|e| e.to_string())?;
        parse(&m)
    }

    #[test]
    fn defaults_and_overrides() {
        let c = cfg(&["-u", "a:b", "--seed", "5", "--mix", "store=0,idle=9"]).unwrap();
        assert_eq!(c.users, vec![("a".into(), "b".into())]);
        assert_eq!(
            (c.clients, c.seed, c.duration),
            (20, 5, Duration::from_secs(30))
        );
        assert!(c.mix.contains(&(Op::Store, 0)) && c.mix.contains(&(Op::Idle, 9)));
        assert_eq!(c.mailboxes, ["INBOX", "Load1", "Load2"]);
        assert_eq!(
            cfg(&["-u", "a:b", "-n", "10"]).unwrap().duration,
            OPS_ONLY_LIMIT
        );
    }

    #[test]
    fn bad_usage() {
        for bad in [
            &[][..],
            &["-u", "nopass"],
            &["-u", "a:b", "-c", "1001"],
            &["-u", "a:b", "-c", "0"],
            &["-u", "a:b", "--mix", "frob=1"],
            &["-u", "a:b", "--mailboxes", "a\"b"],
            &["-u", "a:b", "--private-keywords", "26"],
        ] {
            assert!(cfg(bad).is_err(), "{bad:?}");
        }
    }
}
