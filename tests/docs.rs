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
    for sub in ["serve", "demo", "hash", "check"] {
        assert!(
            man.contains(&format!(".B {sub}")) || man.contains(&format!("\\fB{sub}\\fR")),
            "{sub}"
        );
    }
}
