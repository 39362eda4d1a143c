//! Documentation kept in step with the code: every configuration key is in
//! roost.conf(5) and the example file, and the example file parses.

use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn man_page_documents_exactly_the_config_keys_in_order() {
    let man = read("man/roost.conf.5");
    let lines: Vec<&str> = man.lines().collect();
    let documented: Vec<&str> = lines
        .windows(2)
        .filter(|w| w[0] == ".TP" && w[1].starts_with(".B "))
        .map(|w| w[1][3..].trim())
        .collect();
    let keys: Vec<&str> = roost::config::KEYS.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(documented, keys);
}

#[test]
fn example_config_lists_every_key_and_parses() {
    let example = read("packaging/roost.conf.example");
    for (key, default, _) in roost::config::KEYS {
        let line = format!("#{key} = {default}");
        assert!(
            example.lines().any(|l| l.trim_end() == line.trim_end()),
            "example lacks {line:?}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "check",
            "-c",
            concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/roost.conf.example"),
        ])
        .output()
        .unwrap();
    // Exit 2 is a configuration error; 1 only means the machine running
    // the test lacks what the example points at (users file, ports).
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        settings.lines().count(),
        roost::config::KEYS.len(),
        "{settings}"
    );
}

#[test]
fn roost_8_names_every_subcommand() {
    let man = read("man/roost.8");
    let (_, help, _) = crate::common::run_tool(env!("CARGO_BIN_EXE_roost"), &["--help"], b"");
    for sub in [
        "serve",
        "demo",
        "hash",
        "check",
        "migrate-dovecot",
        "deliver",
    ] {
        let roff = sub.replace('-', "\\-");
        assert!(
            man.contains(&format!(".B {roff}")) || man.contains(&format!("\\fB{roff}\\fR")),
            "roost.8 lacks {sub}"
        );
        assert!(
            help.contains(&format!("roost {sub}")) || sub == "serve",
            "--help lacks {sub}"
        );
    }
}

/// The pages must render without warnings: mandoc's linter, or groff's
/// warnings where mandoc is not installed.
#[test]
fn man_pages_pass_the_linter() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/man/");
    let pages = [format!("{dir}roost.8"), format!("{dir}roost.conf.5")];
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .map(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
            .unwrap_or(false)
    };
    let out = if std::path::Path::new("/usr/bin/mandoc").exists() {
        Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning"])
            .args(&pages)
            .output()
            .unwrap()
    } else if have("groff") {
        Command::new("groff")
            .args(["-ww", "-z", "-man"])
            .args(&pages)
            .output()
            .unwrap()
    } else {
        eprintln!("skipped: neither mandoc nor groff is installed");
        return;
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && report.trim().is_empty(), "{report}");
}

/// README's first command is `cargo run --release -- demo`; with a second
/// binary (roost-load) in the package, cargo needs to be told which to run.
#[test]
fn cargo_run_picks_the_server() {
    let manifest = read("Cargo.toml");
    assert!(read("README.md").contains("cargo run --release -- demo"));
    assert!(
        manifest.contains("default-run = \"roost\""),
        "Cargo.toml must name roost as default-run"
    );
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--offline", "--", "--help"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "CARGO_TARGET_DIR",
            std::env::var("CARGO_TARGET_DIR")
                .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR"))),
        )
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("could not determine which binary"), "{text}");
}

/// README's quick start is two commands, the demo and `tests/run`, and CI
/// runs that same `tests/run`, which holds the only package list.
#[test]
fn quick_start_is_two_commands_and_ci_runs_the_second() {
    let readme = read("README.md");
    let start = readme.find("## Quick start").expect("a quick start");
    let block = &readme[start..];
    let open = block.find("```\n").expect("a code block") + 4;
    let close = open + block[open..].find("```").expect("closed");
    let commands: Vec<&str> = block[open..close]
        .lines()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands, ["cargo run --release -- demo", "tests/run"]);
    let ci = read(".ci/run");
    assert!(ci.lines().any(|l| l.trim() == "exec tests/run"), "{ci}");
    assert!(
        !ci.contains("apt-get"),
        ".ci/run keeps no package list of its own"
    );
    let script = read("tests/run");
    assert!(script.contains("apt-get install") && script.contains("exec cargo test \"$@\""));
    let mode = std::fs::metadata(format!("{}/tests/run", env!("CARGO_MANIFEST_DIR")))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        .unwrap_or(0);
    assert!(mode & 0o111 != 0, "tests/run is executable");
}
