//! The command line: `roost [serve] | demo | hash | check | migrate-dovecot`, `--help`,
//! `--version`. Parses arguments with getopts, sets up logging, and runs the
//! chosen subcommand. Returns the process exit code: 0 fine, 1 runtime
//! failure, 2 usage or configuration error.

use crate::auth::scheme::{hash_password, Scheme};
use crate::check::{self, Level};
use crate::config::{Config, DEFAULT_CONFIG_PATH, KEYS};
use crate::privileges::{self, Plan};
use crate::{demo, migrate, server};
use getopts::{Matches, Options};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

const DEMO_PLAIN_PORT: u16 = 1143;
const DEMO_TLS_PORT: u16 = 1993;
const DEMO_DIR: &str = "roost-demo";

fn usage() -> String {
    format!(
        "Roost {version}: an IMAP server for Maildir trees

Usage:
  roost [serve] [-c FILE] [-o KEY=VALUE]... [-v]...
                       run the server (default config {DEFAULT_CONFIG_PATH})
  roost demo [--port N] [--tls-port N] [-v]...
                       create ./{DEMO_DIR}/ (user demo, password demo) and serve it
                       on 127.0.0.1:{DEMO_PLAIN_PORT} (STARTTLS) and 127.0.0.1:{DEMO_TLS_PORT} (TLS)
  roost hash [--scheme BLF-CRYPT|SHA512-CRYPT|SHA256-CRYPT|SCRAM-SHA-256|SCRAM-SHA-1]
                       read a password on stdin, print a passwd-file hash
  roost check [-c FILE] [-o KEY=VALUE]... [--unit FILE]
                       validate the configuration, print the effective settings,
                       and report problems (files, permissions, password schemes,
                       the systemd unit's sandbox, ports) on stderr
  roost migrate-dovecot [-o FILE] [PATH]
                       translate a Dovecot configuration (PATH: `doveconf -n -P` output,
                       - for stdin, or a directory such as /etc/dovecot, the default)
                       into a roost.conf on stdout or FILE; what cannot be carried
                       over is listed on stderr and as comments
  roost deliver [-c FILE] [-d USER] [-m FOLDER] [-a ADDRESS] [-f SENDER]
                       deliver one message from stdin into USER's mailbox, as
                       dovecot-lda does (exit 0, 67 no such user, 75 try later)
  roost --help | --version

Options:
  -c, --config FILE    configuration file
  -o KEY=VALUE         override a configuration key (repeatable);
                       for migrate-dovecot: -o, --output FILE writes the result there
  -v                   more logging (repeatable: debug, then trace)
  -h, --help           this text
  -V, --version        the version

Configuration keys (roost.conf(5)):
{keys}",
        version = env!("CARGO_PKG_VERSION"),
        keys = KEYS
            .iter()
            .map(|(k, d, _)| format!("  {k} = {d}\n"))
            .collect::<String>()
    )
}

/// Entry point for the binary; `args` excludes the program name.
pub fn main(args: Vec<String>) -> i32 {
    // Its own options and sysexits codes, for Postfix's mailbox_command.
    if args.first().map(String::as_str) == Some("deliver") {
        return crate::lmtp::deliver_cmd::main(&args[1..]);
    }
    let (sub, rest) = match args.first().map(String::as_str) {
        Some("serve" | "demo" | "hash" | "check" | "migrate-dovecot") => {
            (args[0].clone(), args[1..].to_vec())
        }
        _ => ("serve".to_string(), args),
    };
    let mut opts = Options::new();
    opts.optflag("h", "help", "");
    opts.optflag("V", "version", "");
    opts.optflagmulti("v", "", "");
    match sub.as_str() {
        "serve" | "check" => {
            opts.optopt("c", "config", "", "FILE");
            opts.optmulti("o", "", "", "KEY=VALUE");
            if sub == "check" {
                opts.optopt("", "unit", "", "FILE");
            }
        }
        "demo" => {
            opts.optopt("", "port", "", "N");
            opts.optopt("", "tls-port", "", "N");
        }
        "migrate-dovecot" => {
            opts.optopt("o", "output", "", "FILE");
        }
        _ => {
            opts.optopt("", "scheme", "", "SCHEME");
        }
    }
    let m = match opts.parse(&rest) {
        Ok(m) => m,
        Err(e) => return usage_error(&format!("{e}")),
    };
    if m.opt_present("h") {
        print!("{}", usage());
        return EXIT_OK;
    }
    if m.opt_present("V") {
        println!("roost {}", env!("CARGO_PKG_VERSION"));
        return EXIT_OK;
    }
    let max_free = if sub == "migrate-dovecot" { 1 } else { 0 };
    if let Some(extra) = m.free.get(max_free) {
        return usage_error(&format!("unexpected argument {extra:?}"));
    }
    match sub.as_str() {
        "serve" => serve(&m),
        "migrate-dovecot" => migrate_dovecot(&m),
        "check" => check(&m),
        "demo" => run_demo(&m),
        _ => hash(&m),
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("roost: {msg}\nTry `roost --help`.");
    EXIT_USAGE
}

fn load_config(m: &Matches) -> Result<Config, i32> {
    let path = m
        .opt_str("c")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    Config::load(&path, &m.opt_strs("o")).map_err(|e| {
        eprintln!("roost: {e}");
        EXIT_USAGE
    })
}

fn init_logging(level: log::LevelFilter, verbosity: usize) {
    let level = match verbosity {
        0 => level,
        1 => level.max(log::LevelFilter::Debug),
        _ => log::LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    // Third-party crates stay quiet unless asked for with RUST_LOG.
    builder.filter_module("rustls", log::LevelFilter::Warn.min(level));
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.format_timestamp_millis();
    let _ = builder.try_init();
}

fn serve(m: &Matches) -> i32 {
    let config = match load_config(m) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(config.log_level, m.opt_count("v"));
    let plan = match privileges::plan(&config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("roost: {e}");
            return EXIT_USAGE;
        }
    };
    run_server(config, &plan)
}

fn run_server(config: Config, plan: &Plan) -> i32 {
    match server::run(config, plan) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            log::error!("{e}");
            eprintln!("roost: {e}");
            EXIT_FAILURE
        }
    }
}

fn check(m: &Matches) -> i32 {
    let config = match load_config(m) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    for (key, value) in config.effective() {
        let _ = writeln!(out, "{key} = {value}");
    }
    let _ = out.flush();
    // The sandbox named with --unit, else the installed unit that serves
    // this config file (none for a config of one's own).
    let sandbox = match m.opt_str("unit") {
        Some(unit) => match check::Sandbox::from_file(Path::new(&unit)) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("roost: {e}");
                return EXIT_USAGE;
            }
        },
        None => {
            let path = m
                .opt_str("c")
                .unwrap_or_else(|| DEFAULT_CONFIG_PATH.to_string());
            check::Sandbox::installed_for(Path::new(&path))
        }
    };
    if let Some(s) = &sandbox {
        let _ = writeln!(
            std::io::stderr(),
            "roost check: judging paths by the sandbox of {}",
            s.unit.display()
        );
    }
    let findings = check::run(&config, sandbox.as_ref());
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    for f in &findings {
        let level = match f.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        eprintln!("roost check: {level}: {}", f.message);
    }
    match (errors, findings.len() - errors) {
        (0, 0) => eprintln!("roost check: no problems found"),
        (e, w) => eprintln!("roost check: {e} errors, {w} warnings"),
    }
    if errors > 0 {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}

const DOVECOT_DIR: &str = "/etc/dovecot";

fn migrate_dovecot(m: &Matches) -> i32 {
    let source = PathBuf::from(m.free.first().map_or(DOVECOT_DIR, String::as_str));
    let migration = match migrate::read_source(&source)
        .and_then(|(text, origin)| migrate::translate(&text, &origin))
    {
        Ok(mig) => mig,
        Err(e) => {
            eprintln!("roost migrate-dovecot: {e}");
            return EXIT_FAILURE;
        }
    };
    for note in &migration.notes {
        eprintln!("roost migrate-dovecot: not carried over: {note}");
    }
    match m.opt_str("o") {
        Some(file) => {
            if let Err(e) = std::fs::write(&file, &migration.text) {
                eprintln!("roost migrate-dovecot: {file}: {e}");
                return EXIT_FAILURE;
            }
            eprintln!(
                "roost migrate-dovecot: wrote {file} ({} notes); check it with `roost check -c {file}`",
                migration.notes.len()
            );
        }
        None => print!("{}", migration.text),
    }
    EXIT_OK
}

fn port(m: &Matches, name: &str, default: u16) -> Result<u16, i32> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(p) => p
            .parse()
            .map_err(|_| usage_error(&format!("--{name}: {p:?} is not a port number"))),
    }
}

fn run_demo(m: &Matches) -> i32 {
    let (plain, tls) = match (
        port(m, "port", DEMO_PLAIN_PORT),
        port(m, "tls-port", DEMO_TLS_PORT),
    ) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    init_logging(log::LevelFilter::Info, m.opt_count("v"));
    let setup = match demo::prepare(Path::new(DEMO_DIR), plain, tls) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("roost: demo setup failed: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut config = match Config::load(&setup.config_file, &[]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roost: {e}");
            return EXIT_USAGE;
        }
    };
    // The demo serves its own loopback-only tree as whoever started it.
    config.allow_root = true;
    // Before the instructions: "running… connect to" above an
    // "Address already in use" would send the user to another program.
    for addr in config.listen.iter().chain(config.tls_listeners()) {
        if addr.port() != 0 {
            if let Err(e) = std::net::TcpListener::bind(addr) {
                eprintln!(
                    "roost: demo: cannot listen on {addr}: {e}; pick free ports with \
                     `roost demo --port N --tls-port N`"
                );
                return EXIT_FAILURE;
            }
        }
    }
    eprintln!("{}", demo::instructions(&setup));
    run_server(config, &Plan::Stay)
}

fn hash(m: &Matches) -> i32 {
    let scheme: Scheme = match m
        .opt_str("scheme")
        .as_deref()
        .unwrap_or("BLF-CRYPT")
        .parse()
    {
        Ok(
            s @ (Scheme::BlfCrypt
            | Scheme::Sha512Crypt
            | Scheme::Sha256Crypt
            | Scheme::ScramSha256
            | Scheme::ScramSha1),
        ) => s,
        _ => return usage_error(
            "--scheme must be BLF-CRYPT, SHA512-CRYPT, SHA256-CRYPT, SCRAM-SHA-256 or SCRAM-SHA-1",
        ),
    };
    let password = match read_password() {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("roost: {msg}");
            return EXIT_FAILURE;
        }
    };
    match hash_password(scheme, &password) {
        Ok(h) => {
            println!("{h}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("roost: {e}");
            EXIT_FAILURE
        }
    }
}

/// From a terminal: prompt twice without echo. From a pipe: one line.
fn read_password() -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Retype password: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("passwords do not match".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(password)
}
