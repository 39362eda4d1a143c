//! roost-load: a load and consistency tester for IMAP4rev1 servers.
//!
//! Many clients, one thread each, run a weighted random mix of commands
//! against one server (or several nodes of one store) and check every response against what they and the
//! other clients did (see `model` and `session` for the rules). Uses base
//! IMAP4rev1 only, plus IDLE, UIDPLUS, MOVE and LITERAL+ when advertised,
//! so it runs against any server. See README, "Performance".

mod args;
mod conn;
mod message;
mod model;
mod parse;
mod report;
mod rng;
mod session;
mod workload;

use model::Shared;
use report::{Stats, Summary};
use session::{quote, Ctx, Session};
use std::time::Instant;

/// Stack for each client thread: they keep little on it.
const STACK: usize = 512 * 1024;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    let program = argv
        .first()
        .map_or("roost-load", String::as_str)
        .to_string();
    let opts = args::options();
    let matches = match opts.parse(argv.iter().skip(1)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("roost-load: {e}\n\n{}", args::usage(&program, &opts));
            return 2;
        }
    };
    if matches.opt_present("help") {
        print!("{}", args::usage(&program, &opts));
        return 0;
    }
    let cfg = match args::parse(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roost-load: {e}");
            return 2;
        }
    };
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id());
    let shared = Shared::new(cfg.ops, cfg.max_findings);
    println!(
        "roost-load: server {}, {} clients, {} users, mailboxes {}, seed {}",
        cfg.servers.join(","),
        cfg.clients,
        cfg.users.len(),
        cfg.mailboxes.join(","),
        cfg.seed
    );
    let setup = Instant::now();
    let seeded = match prepare(&cfg, &shared, run_id) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("roost-load: setup failed: {e}");
            return 2;
        }
    };
    println!(
        "setup: {seeded} messages appended in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut stats = Stats::default();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for id in 0..cfg.clients {
            let client = workload::Client::new(id, &cfg, &shared, run_id, deadline);
            let spawned = std::thread::Builder::new()
                .name(format!("client-{id}"))
                .stack_size(STACK)
                .spawn_scoped(scope, move || client.run());
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    eprintln!("roost-load: could not start client {id}: {e}");
                    break;
                }
            }
        }
        for h in handles {
            match h.join() {
                Ok(s) => stats.merge(s),
                Err(_) => stats.error("client thread panicked".into(), String::new()),
            }
        }
    });
    let elapsed = start.elapsed();
    let findings = shared.findings();
    let count = shared.finding_count();
    let header = format!(
        "run: {} s requested, {} clients",
        cfg.duration.as_secs_f64(),
        cfg.clients
    );
    print!(
        "{}",
        report::render(Summary {
            header,
            stats: &mut stats,
            elapsed,
            findings: &findings,
            finding_count: count,
        })
    );
    if count > 0 {
        1
    } else if stats.error_count() > 0 {
        3
    } else {
        0
    }
}

/// Logs in as each user (in parallel), creates the mailboxes that are
/// missing and APPENDs `--seed-messages` per user; the number appended.
fn prepare(cfg: &args::Config, shared: &Shared, run_id: u64) -> Result<usize, String> {
    let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cfg.users.len())
            .map(|user| scope.spawn(move || prepare_user(cfg, shared, run_id, user)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("setup thread panicked".into()))
            })
            .collect()
    });
    let mut total = 0;
    for r in results {
        total += r?;
    }
    Ok(total)
}

fn prepare_user(
    cfg: &args::Config,
    shared: &Shared,
    run_id: u64,
    user: usize,
) -> Result<usize, String> {
    let name = &cfg.users[user].0;
    // Ids past the clients' own, so reports tell setup apart.
    let mut s = Session::new(cfg.clients + user, user, cfg, shared);
    let fail = |s: &Session, what: &str| {
        let errors: Vec<String> = s
            .stats
            .errors
            .iter()
            .map(|(k, (_, ex))| format!("{k} ({ex})"))
            .collect();
        format!("user {name}: {what} {}", errors.join("; "))
    };
    if s.connect().is_err() {
        return Err(fail(&s, "cannot connect and log in"));
    }
    if !s.caps.imap4rev1 {
        return Err(format!(
            "user {name}: the server does not advertise IMAP4rev1"
        ));
    }
    let may_exist = Ctx {
        may_fail: true,
        ..Ctx::default()
    };
    for mb in cfg
        .mailboxes
        .iter()
        .filter(|m| !m.eq_ignore_ascii_case("INBOX"))
    {
        if s.command("CREATE", &format!("CREATE {}", quote(mb)), may_exist)
            .is_err()
        {
            return Err(fail(&s, "connection lost during CREATE"));
        }
    }
    let mut rng = rng::Rng::new(cfg.seed ^ 0x5eed ^ user as u64);
    let mut ids = Vec::new();
    for i in 0..cfg.seed_messages {
        let mailbox = i % cfg.mailboxes.len();
        if workload::append_to(&mut s, &mut rng, run_id, mailbox, &mut ids).is_err() {
            return Err(fail(&s, "connection lost during APPEND"));
        }
    }
    let _ = s.command(
        "LOGOUT",
        "LOGOUT",
        Ctx {
            logout: true,
            ..Ctx::default()
        },
    );
    // Setup commands are not part of the measured run.
    Ok(cfg.seed_messages)
}
