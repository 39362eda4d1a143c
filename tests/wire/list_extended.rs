//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE /
//! CREATE-SPECIAL-USE (RFC 6154): the RFCs' examples as wire tests, and
//! the extended forms beside Dovecot's answers on one tree.

use crate::common::dovecot::{dovecot, hand_over, mail_uid};
use crate::common::{Client, Reply, TestServer};

/// A server with the RFCs' `/` separator.
fn slash_server() -> TestServer {
    TestServer::builder()
        .opt("namespace_separator", "/")
        .start()
}

fn setup(c: &mut Client, create: &[&str], subscribe: &[&str]) {
    for name in create {
        c.ok(&format!("CREATE \"{name}\""));
    }
    for name in subscribe {
        c.ok(&format!("SUBSCRIBE \"{name}\""));
    }
}

/// The untagged lines of a successful command.
fn lines(c: &mut Client, command: &str) -> Vec<String> {
    c.ok(command).untagged
}

fn l(s: &str) -> String {
    s.to_string()
}

#[test]
fn rfc5258_examples_1_to_6() {
    let server = slash_server();
    let mut c = server.login();
    let caps = c.capabilities();
    for cap in [
        "LIST-EXTENDED",
        "LIST-STATUS",
        "SPECIAL-USE",
        "CREATE-SPECIAL-USE",
    ] {
        assert!(caps.contains(&cap.to_string()), "{cap}: {caps:?}");
    }
    setup(
        &mut c,
        &[
            "Fruit",
            "Fruit/Apple",
            "Fruit/Banana",
            "Tofu",
            "Vegetable",
            "Vegetable/Broccoli",
            "Vegetable/Corn",
        ],
        &[
            "INBOX",
            "Fruit/Banana",
            "Fruit/Peach",
            "Vegetable",
            "Vegetable/Broccoli",
        ],
    );
    // Example 2 (and 5: REMOTE changes nothing here).
    let subscribed = vec![
        l("* LIST (\\NonExistent \\Subscribed) \"/\" Fruit/Peach"),
        l("* LIST (\\Subscribed) \"/\" Fruit/Banana"),
        l("* LIST (\\Subscribed) \"/\" INBOX"),
        l("* LIST (\\Subscribed) \"/\" Vegetable"),
        l("* LIST (\\Subscribed) \"/\" Vegetable/Broccoli"),
    ];
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(lines(&mut c, "LIST (SUBSCRIBED) \"\" \"*\"")),
        subscribed
    );
    assert_eq!(
        sorted(lines(&mut c, "LIST (REMOTE SUBSCRIBED) \"\" \"*\"")),
        subscribed
    );
    // Example 3 (and 4).
    let children = vec![
        l("* LIST (\\HasChildren) \"/\" Fruit"),
        l("* LIST (\\HasNoChildren) \"/\" INBOX"),
        l("* LIST (\\HasNoChildren) \"/\" Tofu"),
        l("* LIST (\\HasChildren) \"/\" Vegetable"),
    ];
    assert_eq!(
        lines(&mut c, "LIST () \"\" \"%\" RETURN (CHILDREN)"),
        children
    );
    assert_eq!(
        lines(&mut c, "LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)"),
        children
    );
    // Example 6: subscription state of what exists; no Fruit/Peach.
    assert_eq!(
        lines(&mut c, "LIST (REMOTE) \"\" \"*\" RETURN (SUBSCRIBED)"),
        vec![
            l("* LIST () \"/\" Fruit"),
            l("* LIST () \"/\" Fruit/Apple"),
            l("* LIST (\\Subscribed) \"/\" Fruit/Banana"),
            l("* LIST (\\Subscribed) \"/\" INBOX"),
            l("* LIST () \"/\" Tofu"),
            l("* LIST (\\Subscribed) \"/\" Vegetable"),
            l("* LIST (\\Subscribed) \"/\" Vegetable/Broccoli"),
            l("* LIST () \"/\" Vegetable/Corn"),
        ]
    );
    // LSUB keeps its own meaning.
    let r = c.ok("LSUB \"\" \"Fruit/*\"");
    assert_eq!(r.untagged.len(), 2, "{r:?}");
    // Options the server does not know, and RECURSIVEMATCH alone, are BAD.
    for bad in [
        "LIST (FROB) \"\" \"*\"",
        "LIST (RECURSIVEMATCH) \"\" \"*\"",
        "LIST (REMOTE RECURSIVEMATCH) \"\" \"*\"",
        "LIST \"\" \"*\" RETURN (FROB)",
        "LIST \"\" (\"*\"",
        "LIST \"\" \"*\" RETURN (STATUS (FROB))",
    ] {
        assert!(c.cmd(bad).tagged.starts_with("BAD"), "{bad}");
    }
}

#[test]
fn rfc5258_example_7_several_patterns() {
    let server = slash_server();
    let mut c = server.login();
    setup(
        &mut c,
        &[
            "Drafts",
            "Sent/March2004",
            "Sent/December2003",
            "Sent/August2004",
            "Other",
        ],
        &[],
    );
    assert_eq!(
        lines(
            &mut c,
            "LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\" \"inbox\" \"\")"
        ),
        vec![
            l("* LIST () \"/\" Drafts"),
            l("* LIST () \"/\" INBOX"),
            l("* LIST () \"/\" Sent/August2004"),
            l("* LIST () \"/\" Sent/December2003"),
            l("* LIST () \"/\" Sent/March2004"),
        ]
    );
    // §3: an extended LIST does not treat "" as the delimiter request.
    assert!(lines(&mut c, "LIST () \"\" \"\"").is_empty());
}

#[test]
fn rfc5258_example_8_childinfo() {
    let server = slash_server();
    let mut c = server.login();
    setup(&mut c, &["Foo", "Foo/Bar", "Foo/Baz", "Moo"], &["Foo/Baz"]);
    assert_eq!(
        lines(&mut c, "LIST \"\" \"%\" RETURN (CHILDREN)"),
        vec![
            l("* LIST (\\HasChildren) \"/\" Foo"),
            l("* LIST (\\HasNoChildren) \"/\" INBOX"),
            l("* LIST (\\HasNoChildren) \"/\" Moo"),
        ]
    );
    assert_eq!(
        lines(&mut c, "LIST (SUBSCRIBED) \"\" \"*\""),
        vec![l("* LIST (\\Subscribed) \"/\" Foo/Baz")]
    );
    assert!(lines(&mut c, "LIST (SUBSCRIBED) \"\" \"%\"").is_empty());
    assert_eq!(
        lines(&mut c, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\""),
        vec![l("* LIST () \"/\" Foo (CHILDINFO (\"SUBSCRIBED\"))")]
    );
    // A1: Foo subscribed as well.
    c.ok("SUBSCRIBE Foo");
    assert_eq!(
        lines(&mut c, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\""),
        vec![l(
            "* LIST (\\Subscribed) \"/\" Foo (CHILDINFO (\"SUBSCRIBED\"))"
        )]
    );
    // B: nothing subscribed, nothing listed.
    c.ok("UNSUBSCRIBE Foo");
    c.ok("UNSUBSCRIBE Foo/Baz");
    assert!(lines(&mut c, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"").is_empty());
    // C: Foo and Moo subscribed.
    setup(&mut c, &[], &["Foo", "Moo"]);
    assert_eq!(
        lines(
            &mut c,
            "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)"
        ),
        vec![
            l("* LIST (\\Subscribed \\HasChildren) \"/\" Foo"),
            l("* LIST (\\Subscribed \\HasNoChildren) \"/\" Moo"),
        ]
    );
}

#[test]
fn rfc5258_examples_9_to_11() {
    let server = slash_server();
    let mut c = server.login();
    setup(
        &mut c,
        &[
            "foo2",
            "foo2/bar1",
            "foo2/bar2",
            "baz2",
            "baz2/bar2",
            "baz2/bar22",
            "baz2/bar222",
            "eps2",
            "eps2/mamba",
            "qux2/bar2",
        ],
        &[
            "foo2/bar1",
            "foo2/bar2",
            "baz2/bar2",
            "baz2/bar22",
            "baz2/bar222",
            "eps2",
            "eps2/mamba",
            "qux2/bar2",
        ],
    );
    // Example 9, without the redundant CHILDINFO for baz2 (§3.5 SHOULD).
    assert_eq!(
        lines(&mut c, "LIST (RECURSIVEMATCH SUBSCRIBED) \"\" \"*2\""),
        vec![
            l("* LIST (\\Subscribed) \"/\" baz2/bar2"),
            l("* LIST (\\Subscribed) \"/\" baz2/bar22"),
            l("* LIST (\\Subscribed) \"/\" baz2/bar222"),
            l("* LIST (\\Subscribed) \"/\" eps2 (CHILDINFO (\"SUBSCRIBED\"))"),
            l("* LIST () \"/\" foo2 (CHILDINFO (\"SUBSCRIBED\"))"),
            l("* LIST (\\Subscribed) \"/\" foo2/bar2"),
            l("* LIST (\\Subscribed) \"/\" qux2/bar2"),
        ]
    );
    // Example 11: a parent that exists only through its child.
    assert_eq!(
        lines(&mut c, "LIST () \"\" \"qux%\" RETURN (CHILDREN)"),
        vec![l("* LIST (\\NonExistent \\HasChildren) \"/\" qux2")]
    );
    assert_eq!(
        lines(&mut c, "LIST \"\" (\"qux%\" \"qux2/bar2\")"),
        vec![
            l("* LIST (\\NonExistent) \"/\" qux2"),
            l("* LIST () \"/\" qux2/bar2"),
        ]
    );

    // Example 10, on a tree of its own.
    let server = slash_server();
    let mut c = server.login();
    setup(&mut c, &["foo"], &["foo/bar"]);
    assert_eq!(
        lines(&mut c, "LIST \"\" (\"foo\" \"foo/*\")"),
        vec![l("* LIST () \"/\" foo")]
    );
    assert_eq!(
        lines(&mut c, "LIST (SUBSCRIBED) \"\" \"foo/*\""),
        vec![l("* LIST (\\NonExistent \\Subscribed) \"/\" foo/bar")]
    );
    assert_eq!(
        lines(
            &mut c,
            "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" foo RETURN (CHILDREN)"
        ),
        vec![l(
            "* LIST (\\HasNoChildren) \"/\" foo (CHILDINFO (\"SUBSCRIBED\"))"
        )]
    );
}

#[test]
fn rfc5819_list_status() {
    let server = TestServer::start();
    let mut c = server.login();
    setup(&mut c, &["foo", "bar.x"], &["INBOX", "bar.x"]);
    for i in 0..3 {
        c.append(
            "INBOX",
            if i == 0 { "(\\Seen)" } else { "" },
            "Subject: x\r\n\r\ny\r\n",
        );
    }
    c.append("foo", "", "Subject: x\r\n\r\ny\r\n");
    assert_eq!(
        lines(&mut c, "LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))"),
        vec![
            l("* LIST () \".\" INBOX"),
            l("* STATUS INBOX (MESSAGES 3 UNSEEN 2)"),
            l("* LIST (\\NonExistent) \".\" bar"),
            l("* LIST () \".\" foo"),
            l("* STATUS foo (MESSAGES 1 UNSEEN 1)"),
        ]
    );
    // The example's missing SP before the reference is tolerated.
    assert_eq!(
        lines(
            &mut c,
            "LIST (SUBSCRIBED RECURSIVEMATCH)\"\" % RETURN (STATUS (MESSAGES))"
        ),
        vec![
            l("* LIST (\\Subscribed) \".\" INBOX"),
            l("* STATUS INBOX (MESSAGES 3)"),
            l("* LIST (\\NonExistent) \".\" bar (CHILDINFO (\"SUBSCRIBED\"))"),
        ]
    );
    // Whatever STATUS knows, LIST-STATUS knows (SIZE of RFC 8438 here).
    let plain = c
        .ok("STATUS foo (SIZE UIDNEXT UIDVALIDITY RECENT)")
        .untagged;
    let listed = lines(
        &mut c,
        "LIST \"\" foo RETURN (STATUS (SIZE UIDNEXT UIDVALIDITY RECENT))",
    );
    assert_eq!(listed[1..], plain[..]);
}

/// The extended LIST forms against Dovecot's on the same tree, compared
/// as sets (the two servers list in different orders).
#[test]
fn list_extended_answers_match_dovecot() {
    let server = TestServer::builder()
        .run_as(mail_uid())
        .opt("special_use", "")
        .start();
    let home = server.root().join("home/alice");
    std::fs::create_dir_all(home.join("Maildir")).unwrap();
    hand_over(&home);
    let setup_cmds: Vec<String> = [
        "CREATE foo2.bar1",
        "CREATE foo2.bar2",
        "CREATE baz2.bar2",
        "CREATE eps2",
        "CREATE eps2.mamba",
        "CREATE qux2.bar2",
        "SUBSCRIBE foo2.bar1",
        "SUBSCRIBE baz2.bar2",
        "SUBSCRIBE eps2",
        "SUBSCRIBE eps2.mamba",
        "SUBSCRIBE qux2.bar2",
        "SUBSCRIBE INBOX",
    ]
    .map(String::from)
    .to_vec();
    dovecot(&home, &setup_cmds);
    let asks = [
        "LIST () \"\" \"%\"",
        "LIST \"\" \"%\" RETURN (CHILDREN)",
        "LIST (SUBSCRIBED) \"\" \"*\"",
        "LIST \"\" \"*\" RETURN (SUBSCRIBED)",
        "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)",
        "LIST (RECURSIVEMATCH SUBSCRIBED) \"\" \"*2\"",
        "LIST (RECURSIVEMATCH SUBSCRIBED) \"\" \"*\"",
        "LIST \"\" (\"foo2\" \"foo2.*\" \"foo2\")",
        "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT))",
    ];
    let mut c = server.login();
    for ask in asks {
        let dv = dovecot(&home, &[ask.to_string()]);
        let mut want: Vec<String> = dv
            .into_iter()
            .filter(|l| l.starts_with("* LIST") || l.starts_with("* STATUS"))
            .collect();
        let mut got: Vec<String> = lines(&mut c, ask);
        assert!(!want.is_empty(), "{ask}: Dovecot listed nothing");
        want.sort();
        got.sort();
        assert_eq!(got, want, "{ask}");
    }
}

fn special(r: &Reply) -> Vec<String> {
    r.untagged.clone()
}

#[test]
fn rfc6154_examples_and_create_use() {
    let server = TestServer::builder()
        .opt("namespace_separator", "/")
        .opt(
            "special_use",
            "SentMail=\\Sent, MyDrafts=\\Drafts, Trash=\\Trash",
        )
        .start();
    let mut c = server.login();
    setup(
        &mut c,
        &["ToDo", "Projects/x", "SentMail", "MyDrafts", "Trash"],
        &[],
    );
    // §5.1: the basic LIST shows the uses.
    assert_eq!(
        special(&c.ok("LIST \"\" \"%\"")),
        vec![
            l("* LIST (\\HasNoChildren) \"/\" INBOX"),
            l("* LIST (\\HasNoChildren \\Drafts) \"/\" MyDrafts"),
            l("* LIST (\\Noselect \\HasChildren) \"/\" Projects"),
            l("* LIST (\\HasNoChildren \\Sent) \"/\" SentMail"),
            l("* LIST (\\HasNoChildren) \"/\" ToDo"),
            l("* LIST (\\HasNoChildren \\Trash) \"/\" Trash"),
        ]
    );
    // §5.2: the return option, then the selection option.
    assert_eq!(
        special(&c.ok("LIST \"\" \"%\" RETURN (SPECIAL-USE)")),
        vec![
            l("* LIST () \"/\" INBOX"),
            l("* LIST (\\Drafts) \"/\" MyDrafts"),
            l("* LIST (\\NonExistent) \"/\" Projects"),
            l("* LIST (\\Sent) \"/\" SentMail"),
            l("* LIST () \"/\" ToDo"),
            l("* LIST (\\Trash) \"/\" Trash"),
        ]
    );
    assert_eq!(
        special(&c.ok("LIST (SPECIAL-USE) \"\" \"*\"")),
        vec![
            l("* LIST (\\Drafts) \"/\" MyDrafts"),
            l("* LIST (\\Sent) \"/\" SentMail"),
            l("* LIST (\\Trash) \"/\" Trash"),
        ]
    );
    // §5.3: CREATE with USE; \All is not supported, nothing is created.
    c.ok("CREATE MySpecial (USE (\\Drafts \\Sent))");
    let r = c.cmd("CREATE Everything (USE (\\All))");
    assert!(r.tagged.starts_with("NO [USEATTR]"), "{r:?}");
    let r = c.cmd("CREATE Other (USE (\\Important))");
    assert!(r.tagged.starts_with("NO [USEATTR]"), "{r:?}");
    let r = c.ok("LIST \"\" \"*\" RETURN (SPECIAL-USE)");
    assert!(!r
        .untagged
        .iter()
        .any(|l| l.contains("Everything") || l.contains("Other")));
    assert!(
        r.untagged
            .contains(&l("* LIST (\\Drafts \\Sent) \"/\" MySpecial")),
        "{r:?}"
    );
    // Kept in the user's file, across a new session.
    let file = server.root().join("home/alice/Maildir/roost-special-use");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "\\Drafts \\Sent\tMySpecial\n"
    );
    let mut again = server.login();
    let r = again.ok("LIST (SPECIAL-USE) \"\" \"My*\"");
    assert!(
        r.untagged
            .contains(&l("* LIST (\\Drafts \\Sent) \"/\" MySpecial")),
        "{r:?}"
    );
    // RENAME carries the use, DELETE forgets it.
    c.ok("RENAME MySpecial Special/Mine");
    let r = c.ok("LIST (SPECIAL-USE) \"\" \"*\"");
    assert!(
        r.untagged
            .contains(&l("* LIST (\\Drafts \\Sent) \"/\" Special/Mine")),
        "{r:?}"
    );
    c.ok("DELETE Special/Mine");
    c.ok("CREATE Special/Mine");
    let r = c.ok("LIST (SPECIAL-USE) \"\" \"Special/*\"");
    assert!(r.untagged.is_empty(), "{r:?}");
    assert!(c.cmd("CREATE x (USE (Sent))").tagged.starts_with("BAD"));
    assert!(c.cmd("CREATE x (FROB (\\Sent))").tagged.starts_with("BAD"));
}

#[test]
fn autocreate_makes_the_first_folder_of_each_use_at_login() {
    let server = TestServer::builder()
        .opt("autocreate_special_use", "yes")
        .opt(
            "special_use",
            "Drafts=\\Drafts, Sent=\\Sent, Sent Messages=\\Sent, Trash=\\Trash, Junk=\\Junk, Archive=\\Archive",
        )
        .start();
    let mut c = server.login();
    let r = c.ok("LIST (SPECIAL-USE) \"\" \"*\" RETURN (SUBSCRIBED)");
    assert_eq!(
        special(&r),
        vec![
            l("* LIST (\\Subscribed \\Archive) \".\" Archive"),
            l("* LIST (\\Subscribed \\Drafts) \".\" Drafts"),
            l("* LIST (\\Subscribed \\Junk) \".\" Junk"),
            l("* LIST (\\Subscribed \\Sent) \".\" Sent"),
            l("* LIST (\\Subscribed \\Trash) \".\" Trash"),
        ]
    );
    // The second name for a use is marked when it exists, never created.
    c.ok("CREATE \"Sent Messages\"");
    let r = c.ok("LIST \"\" \"Sent*\"");
    assert!(
        r.untagged.contains(&l(
            "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent Messages\""
        )),
        "{r:?}"
    );
    // A deleted one is back at the next login, as with Dovecot.
    c.ok("DELETE Junk");
    assert!(!server.root().join("home/alice/Maildir/.Junk").exists());
    let _again = server.login();
    assert!(server.root().join("home/alice/Maildir/.Junk").is_dir());
}

#[test]
fn special_use_setting_is_checked_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("roost.conf");
    std::fs::write(
        &conf,
        "listen = 127.0.0.1:1143\n\nspecial_use = Sent=\\Sent, Stuff=\\Stuff\n",
    )
    .unwrap();
    let (ok, _, err) = crate::common::run_tool(
        env!("CARGO_BIN_EXE_roost"),
        &["check", "-c", conf.to_str().unwrap()],
        b"",
    );
    assert!(!ok);
    assert!(
        err.contains("roost.conf:3:") && err.contains("\\\\Stuff"),
        "{err}"
    );
    std::fs::write(
        &conf,
        "listen = 127.0.0.1:1143\nspecial_use = a..b=\\Sent\n",
    )
    .unwrap();
    let (ok, _, err) = crate::common::run_tool(
        env!("CARGO_BIN_EXE_roost"),
        &["check", "-c", conf.to_str().unwrap()],
        b"",
    );
    assert!(!ok && err.contains("special_use"), "{err}");
    std::fs::write(
        &conf,
        "listen = 127.0.0.1:1143\nspecial_use = Sent Messages=\\Sent,Spam = \\junk\n",
    )
    .unwrap();
    let (ok, out, err) = crate::common::run_tool(
        env!("CARGO_BIN_EXE_roost"),
        &["check", "-c", conf.to_str().unwrap()],
        b"",
    );
    // Other findings (no users file here) may fail the check; not this key.
    let _ = ok;
    assert!(!err.contains("special_use"), "{err}");
    assert!(out.contains("Sent Messages=\\Sent, Spam=\\Junk"), "{out}");
}
