//! Scripts run on messages: RFC examples and the cases users write.

use std::collections::HashMap;

use super::*;

#[derive(Default)]
struct TestHost {
    mailboxes: Vec<String>,
    seen: HashMap<String, u64>,
    scripts: HashMap<String, String>,
}

impl Host for TestHost {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        self.mailboxes.iter().any(|m| m == name)
    }
    fn seen_before(&mut self, key: &str, period: u64, _restart: bool) -> bool {
        self.seen.insert(key.to_string(), period).is_some()
    }
    fn include(&mut self, name: &str, _global: bool) -> Option<String> {
        self.scripts.get(name).cloned()
    }
}

const MSG: &[u8] = b"Return-Path: <list-bounces@lists.example.org>\r\n\
From: \"Joe Q\" <joe+tag@Example.COM>\r\n\
To: alice@example.net, bob@example.net\r\n\
Subject: [rust-users] Weekly =?utf-8?q?r=C3=A9sum=C3=A9?=\r\n\
Date: Mon, 7 Dec 2026 10:15:00 +0100\r\n\
Message-ID: <m1@example.com>\r\n\
X-Spam-Score: 7.5\r\n\
\r\n\
Hello Alice,\r\nthe weekly digest is attached.\r\n";

fn input(msg: &[u8]) -> RunInput<'_> {
    RunInput {
        message: msg,
        envelope_from: "joe+tag@example.com",
        envelope_to: "alice+rust@example.net",
        auth_user: None,
        delimiter: "+",
        own_addresses: vec!["alice@example.net".into()],
        scores: run::ScoreHeaders {
            spam: Some(("X-Spam-Score".into(), 10.0)),
            virus: None,
        },
        now: 1_796_640_000,
        local_zone_minutes: 0,
    }
}

fn run_on(script: &str, msg: &[u8], host: &mut TestHost) -> Outcome {
    let s = Script::compile(script).unwrap_or_else(|e| panic!("{e}"));
    run(&[&s], &input(msg), host)
}

fn stores(o: &Outcome) -> Vec<(String, Vec<String>)> {
    o.actions
        .iter()
        .filter_map(|a| match a {
            Action::Store { mailbox, flags, .. } => Some((mailbox.clone(), flags.clone())),
            _ => None,
        })
        .collect()
}

fn folder(script: &str) -> Vec<String> {
    let o = run_on(script, MSG, &mut TestHost::default());
    assert_eq!(o.error, None);
    stores(&o).into_iter().map(|(m, _)| m).collect()
}

#[test]
fn empty_script_keeps() {
    assert_eq!(folder(""), vec!["INBOX"]);
}

#[test]
fn fileinto_by_header_address_and_envelope() {
    let s = "require [\"fileinto\", \"envelope\", \"subaddress\"];\n";
    assert_eq!(
        folder(&format!(
            "{s}if header :contains \"subject\" \"[rust-users]\" {{ fileinto \"Lists.rust\"; }}"
        )),
        vec!["Lists.rust"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if address :domain :is \"from\" \"example.com\" {{ fileinto \"Joe\"; }}"
        )),
        vec!["Joe"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if address :detail \"from\" \"tag\" {{ fileinto \"T\"; }}"
        )),
        vec!["T"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if envelope :detail \"to\" \"rust\" {{ fileinto \"R\"; }}"
        )),
        vec!["R"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if envelope :user \"to\" \"bob\" {{ fileinto \"R\"; }}"
        )),
        vec!["INBOX"]
    );
    // RFC 2047 words are decoded before matching.
    assert_eq!(
        folder(&format!(
            "{s}if header :contains \"subject\" \"résumé\" {{ fileinto \"D\"; }}"
        )),
        vec!["D"]
    );
}

#[test]
fn copy_keeps_and_discard_drops() {
    let o = run_on(
        "require [\"fileinto\",\"copy\"]; fileinto :copy \"A\";",
        MSG,
        &mut TestHost::default(),
    );
    assert_eq!(stores(&o).len(), 2);
    let o = run_on("discard;", MSG, &mut TestHost::default());
    assert_eq!(o.actions, vec![Action::Discard]);
}

#[test]
fn flags_and_variables() {
    let o = run_on(
        "require [\"imap4flags\",\"variables\",\"fileinto\"];\n\
         addflag \"\\\\Seen\"; addflag [\"$Work\", \"\\\\seen\"];\n\
         if header :matches \"subject\" \"[*] *\" { set :lower \"list\" \"${1}\"; fileinto \"Lists.${list}\"; }",
        MSG,
        &mut TestHost::default(),
    );
    assert_eq!(o.error, None);
    assert_eq!(
        stores(&o),
        vec![(
            "Lists.rust-users".into(),
            vec!["\\Seen".into(), "$Work".into()]
        )]
    );
}

#[test]
fn size_allof_anyof_not_exists() {
    assert_eq!(folder("require \"fileinto\"; if allof (size :under 1K, exists [\"from\",\"date\"], not exists \"x-nope\") { fileinto \"S\"; }"), vec!["S"]);
    assert_eq!(
        folder("require \"fileinto\"; if anyof (size :over 1M, false) { fileinto \"S\"; }"),
        vec!["INBOX"]
    );
}

#[test]
fn relational_regex_and_numeric() {
    let s = "require [\"fileinto\",\"relational\",\"comparator-i;ascii-numeric\",\"regex\"];\n";
    assert_eq!(folder(&format!("{s}if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"7\" {{ fileinto \"Spam\"; }}")), vec!["Spam"]);
    assert_eq!(folder(&format!("{s}if address :count \"eq\" :comparator \"i;ascii-numeric\" \"to\" \"2\" {{ fileinto \"Two\"; }}")), vec!["Two"]);
    assert_eq!(
        folder(&format!(
            "{s}if header :regex \"subject\" \"^\\\\[[a-z-]+\\\\]\" {{ fileinto \"Re\"; }}"
        )),
        vec!["Re"]
    );
}

#[test]
fn spamtest_reads_the_configured_header() {
    assert_eq!(folder("require [\"fileinto\",\"spamtest\",\"relational\",\"comparator-i;ascii-numeric\"]; if spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"8\" { fileinto \"Junk\"; }"), vec!["Junk"]);
    assert_eq!(folder("require [\"fileinto\",\"spamtestplus\",\"relational\",\"comparator-i;ascii-numeric\"]; if spamtest :percent :value \"eq\" :comparator \"i;ascii-numeric\" \"75\" { fileinto \"Junk\"; }"), vec!["Junk"]);
}

#[test]
fn body_test() {
    assert_eq!(
        folder("require [\"body\",\"fileinto\"]; if body :contains \"digest\" { fileinto \"B\"; }"),
        vec!["B"]
    );
    assert_eq!(folder("require [\"body\",\"fileinto\"]; if body :raw :contains \"nothing\" { fileinto \"B\"; }"), vec!["INBOX"]);
}

#[test]
fn date_tests() {
    let s = "require [\"date\",\"fileinto\",\"relational\"];\n";
    assert_eq!(
        folder(&format!(
            "{s}if date :originalzone \"date\" \"hour\" \"10\" {{ fileinto \"H\"; }}"
        )),
        vec!["H"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if date :zone \"+0000\" \"date\" \"hour\" \"09\" {{ fileinto \"H\"; }}"
        )),
        vec!["H"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if date \"date\" \"date\" \"2026-12-07\" {{ fileinto \"D\"; }}"
        )),
        vec!["D"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if date \"date\" \"weekday\" \"1\" {{ fileinto \"W\"; }}"
        )),
        vec!["W"]
    );
    assert_eq!(
        folder(&format!(
            "{s}if currentdate :value \"ge\" \"year\" \"2026\" {{ fileinto \"Now\"; }}"
        )),
        vec!["Now"]
    );
}

#[test]
fn reject_conflicts_with_fileinto_and_falls_back_to_keep() {
    let o = run_on(
        "require [\"reject\",\"fileinto\"]; reject \"no\"; fileinto \"A\";",
        MSG,
        &mut TestHost::default(),
    );
    assert!(o.error.is_some());
    assert_eq!(stores(&o), vec![("INBOX".into(), vec![])]);
    let o = run_on(
        "require \"reject\"; reject \"go away\";",
        MSG,
        &mut TestHost::default(),
    );
    assert_eq!(
        o.actions,
        vec![Action::Reject {
            reason: "go away".into(),
            extended: false
        }]
    );
}

#[test]
fn policy_limits_fall_back_to_keep() {
    let many: String = (0..10_000)
        .map(|i| format!("fileinto \"f{i}\";\n"))
        .collect();
    let o = run_on(
        &format!("require \"fileinto\";\n{many}"),
        MSG,
        &mut TestHost::default(),
    );
    assert!(o.error.is_some());
    assert_eq!(folder("redirect \"a@b.c\"; redirect \"a@b.c\";").len(), 0);
    let redirects: String = (0..6).map(|i| format!("redirect \"u{i}@b.c\";")).collect();
    assert!(run_on(&redirects, MSG, &mut TestHost::default())
        .error
        .is_some());
}

#[test]
fn include_and_loops() {
    let mut host = TestHost::default();
    host.scripts.insert(
        "lists".into(),
        "require [\"fileinto\", \"include\"]; fileinto \"L\"; return; fileinto \"never\";".into(),
    );
    host.scripts.insert(
        "loop".into(),
        "require \"include\"; include \"loop\";".into(),
    );
    let o = run_on("require \"include\"; include \"lists\";", MSG, &mut host);
    assert_eq!(stores(&o), vec![("L".into(), vec![])]);
    let o = run_on("require \"include\"; include \"loop\";", MSG, &mut host);
    assert!(o.error.is_some());
    let o = run_on(
        "require \"include\"; include :optional \"absent\";",
        MSG,
        &mut host,
    );
    assert_eq!(o.error, None);
}

#[test]
fn global_variables_cross_includes() {
    let mut host = TestHost::default();
    host.scripts.insert(
        "setter".into(),
        "require [\"include\",\"variables\"]; global \"dest\"; set \"dest\" \"Shared\";".into(),
    );
    let o = run_on(
        "require [\"include\",\"variables\",\"fileinto\"]; global \"dest\"; include \"setter\"; fileinto \"${dest}\";",
        MSG,
        &mut host,
    );
    assert_eq!(o.error, None);
    assert_eq!(stores(&o), vec![("Shared".into(), vec![])]);
}

#[test]
fn vacation_once_per_sender_and_never_to_lists() {
    let mut host = TestHost::default();
    let script = "require \"vacation\"; vacation :days 3 :subject \"Away\" \"I am away.\";";
    let o = run_on(script, MSG, &mut host);
    let replies: Vec<_> = o
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Vacation(_)))
        .collect();
    assert_eq!(replies.len(), 1);
    if let Action::Vacation(r) = replies[0] {
        assert_eq!(r.to, "joe+tag@example.com");
        let text = String::from_utf8_lossy(&r.message);
        assert!(text.contains("Subject: Away\r\n"), "{text}");
        assert!(text.contains("In-Reply-To: <m1@example.com>"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
    }
    // Kept as well, and only once per sender.
    assert_eq!(stores(&o).len(), 1);
    let o = run_on(script, MSG, &mut host);
    assert!(!o.actions.iter().any(|a| matches!(a, Action::Vacation(_))));
    // A list message gets no answer.
    let list = [b"List-Id: <x.lists.example.org>\r\n".as_slice(), MSG].concat();
    let o = run_on(script, &list, &mut TestHost::default());
    assert!(!o.actions.iter().any(|a| matches!(a, Action::Vacation(_))));
    // Nor does mail not addressed to the user.
    let other = String::from_utf8_lossy(MSG).replace("To: alice@example.net, ", "To: ");
    let o = run_on(script, other.as_bytes(), &mut TestHost::default());
    assert!(!o.actions.iter().any(|a| matches!(a, Action::Vacation(_))));
}

#[test]
fn editheader_changes_what_later_tests_and_delivery_see() {
    let o = run_on(
        "require [\"editheader\",\"fileinto\"]; addheader \"X-Filtered\" \"yes\"; deleteheader \"x-spam-score\"; deleteheader \"received\";\
         if header :is \"x-filtered\" \"yes\" { fileinto \"E\"; }",
        MSG,
        &mut TestHost::default(),
    );
    assert_eq!(stores(&o), vec![("E".into(), vec![])]);
    let edited = String::from_utf8(o.edited.unwrap()).unwrap();
    assert!(edited.starts_with("X-Filtered: yes\r\n"), "{edited}");
    assert!(!edited.contains("X-Spam-Score"));
    assert!(edited.ends_with("the weekly digest is attached.\r\n"));
}

#[test]
fn duplicate_and_mailboxexists() {
    let mut host = TestHost {
        mailboxes: vec!["Archive".into()],
        ..Default::default()
    };
    let s = "require [\"duplicate\",\"fileinto\",\"mailbox\"]; if duplicate { discard; stop; } if mailboxexists \"Archive\" { fileinto \"Archive\"; }";
    let o = run_on(s, MSG, &mut host);
    assert_eq!(stores(&o), vec![("Archive".into(), vec![])]);
    let o = run_on(s, MSG, &mut host);
    assert_eq!(o.actions, vec![Action::Discard]);
}

#[test]
fn encoded_character() {
    assert_eq!(
        folder("require [\"encoded-character\",\"fileinto\"]; fileinto \"${hex:41 42}\";"),
        vec!["AB"]
    );
}

#[test]
fn compile_errors_name_the_line_and_the_missing_require() {
    let e = Script::compile("keep;\nfileinto \"A\";").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("fileinto"), "{e}");
    assert!(Script::compile("require \"nope\";").is_err());
    assert!(Script::compile("keep;\nrequire \"fileinto\";").is_err());
    assert!(Script::compile("if true { keep; } elsif").is_err());
    assert!(Script::compile("else { keep; }").is_err());
    assert!(Script::compile("size :over :under 1;").is_err());
    assert!(Script::compile("if header :is :contains \"a\" \"b\" {}").is_err());
    assert!(Script::compile("if header :comparator \"i;nope\" \"a\" \"b\" {}").is_err());
    assert!(Script::compile("redirect \"not an address\";").is_err());
    assert_eq!(
        Script::compile("keep;\n\n  bogus;")
            .unwrap_err()
            .to_string(),
        "line 3: error: unknown command 'bogus'"
    );
}

#[test]
fn every_listed_extension_can_be_required() {
    let req = EXTENSIONS
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(",");
    Script::compile(&format!("require [{req}];")).unwrap();
}
