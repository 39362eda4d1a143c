use super::*;

/// `doveconf -n -P` of a private passwd-file + Maildir setup.
const VIRTUAL: &str = r#"# 2.3.19.1 (9b53102964): dovecot.conf
# Pigeonhole version 0.5.19 (4eae2f79)
# OS: Linux 6.1 x86_64 Debian 12.11
auth_mechanisms = plain login cram-md5 gssapi
base_dir = /srv/dc/run
imap_idle_notify_interval = 5 mins
listen = 127.0.0.1, ::1
mail_gid = nogroup
mail_location = maildir:~/Maildir:LAYOUT=fs:UTF-8
mail_uid = nobody
namespace inbox {
  inbox = yes
  location = 
  mailbox Drafts {
    auto = subscribe
    special_use = \Drafts
  }
  mailbox "Sent Messages" {
    special_use = \Sent
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
  mailbox Spam {
    autoexpunge = 30d
    special_use = \Junk
  }
  prefix = 
  separator = /
}
passdb {
  args = scheme=BLF-CRYPT username_format=%u /srv/dc/users
  driver = passwd-file
}
protocols = imap
service imap-login {
  inet_listener imap {
    port = 10143
  }
  inet_listener imaps {
    port = 10993
    ssl = yes
  }
}
ssl = required
ssl_cert = </srv/dc/cert.pem
ssl_key = </srv/dc/key.pem
userdb {
  args = username_format=%u /srv/dc/users
  default_fields = home=/srv/dc/home/%Lu
  driver = passwd-file
}
protocol imap {
  mail_max_userip_connections = 20
}
"#;

/// `doveconf -n` of Debian's stock configuration (system users, mbox).
const DEBIAN_DEFAULT: &str = r#"# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf
mail_location = mbox:~/mail:INBOX=/var/mail/%u
mail_privileged_group = mail
namespace inbox {
  inbox = yes
  location = 
  mailbox Drafts {
    special_use = \Drafts
  }
  mailbox Sent {
    special_use = \Sent
  }
  prefix = 
}
passdb {
  driver = pam
}
protocols = " imap"
ssl_cert = </etc/dovecot/private/dovecot.pem
ssl_client_ca_dir = /etc/ssl/certs
ssl_dh = # hidden, use -P to show it
ssl_key = # hidden, use -P to show it
userdb {
  driver = passwd
}
"#;

/// The `key = value` lines of a generated file.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once(" = ")
                .unwrap_or((l.trim_end_matches(" ="), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn value(text: &str, key: &str) -> Option<String> {
    settings(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[test]
fn virtual_users_setup_carries_over() {
    let m = translate(VIRTUAL, "test").unwrap();
    let t = &m.text;
    let want = [
        ("listen", "127.0.0.1:10143, [::1]:10143"),
        ("listen_tls", "127.0.0.1:10993, [::1]:10993"),
        ("tls_cert", "/srv/dc/cert.pem"),
        ("tls_key", "/srv/dc/key.pem"),
        ("plaintext_auth", "never"),
        ("passwd_file", "/srv/dc/users"),
        ("mail_location", "/srv/dc/home/%u/Maildir"),
        ("namespace_separator", "/"),
        ("mailbox_names_utf8", "yes"),
        ("user", "nobody"),
        ("group", "nogroup"),
        ("idle_keepalive_secs", "300"),
        (
            "special_use",
            "Drafts=\\Drafts, Sent Messages=\\Sent, Trash=\\Trash, Spam=\\Junk",
        ),
        ("autocreate_special_use", "yes"),
        ("auth_mechanisms", "plain login cram-md5"),
    ];
    for (k, v) in want {
        assert_eq!(value(t, k).as_deref(), Some(v), "{k} in\n{t}");
    }
    assert_eq!(
        value(t, "namespace_prefix"),
        None,
        "empty prefix is the default"
    );
    for needle in [
        "LAYOUT=fs",
        "gssapi",
        "protocol imap: mail_max_userip_connections = 20",
        "autoexpunge = 30d",
        "userdb default home",
    ] {
        assert!(
            m.notes.iter().any(|n| n.contains(needle)),
            "no note about {needle}: {:#?}",
            m.notes
        );
        assert!(t.contains(needle), "notes are comments in the file too");
    }
    assert!(t.contains("base_dir"), "ignored keys are listed");
    assert!(!m.notes.iter().any(|n| n.contains("base_dir")));
    // Nothing translated is reported as left over.
    for used in ["mail_uid", "ssl_cert", "separator", "inet_listener imaps"] {
        assert!(
            !m.notes.iter().any(|n| n.contains(used)),
            "{used} reported: {:#?}",
            m.notes
        );
    }
}

#[test]
fn the_result_loads_as_a_roost_configuration() {
    for input in [VIRTUAL, DEBIAN_DEFAULT] {
        let m = translate(input, "test").unwrap();
        let mut c = Config::default();
        for (k, v) in settings(&m.text) {
            // Keys newer than this build (the special-use pair) are skipped.
            if !KEYS.iter().any(|(n, _, _)| *n == k) {
                assert!(["special_use", "autocreate_special_use"].contains(&k.as_str()));
                continue;
            }
            c.set(&k, &v).unwrap_or_else(|e| panic!("{k} = {v}: {e}"));
        }
        c.validate("migrated").unwrap();
    }
}

#[test]
fn debian_stock_configuration_lists_what_cannot_move() {
    let m = translate(DEBIAN_DEFAULT, "/etc/dovecot").unwrap();
    let t = &m.text;
    assert_eq!(value(t, "listen").as_deref(), Some("0.0.0.0:143"));
    assert_eq!(value(t, "listen_tls").as_deref(), Some("0.0.0.0:993"));
    assert_eq!(value(t, "plaintext_auth").as_deref(), Some("tls-or-local"));
    assert_eq!(value(t, "tls_cert"), None, "the key path was hidden");
    assert_eq!(value(t, "mail_location"), None, "mbox cannot be served");
    assert_eq!(value(t, "user"), None);
    assert_eq!(value(t, "passdb").as_deref(), Some("pam"));
    assert_eq!(value(t, "userdb").as_deref(), Some("passwd"));
    for needle in [
        "Maildir only, and this is mbox",
        "mb2md",
        "doveadm sync",
        "doveconf -n -P",
        "IPv6 wildcard",
    ] {
        assert!(
            m.notes.iter().any(|n| n.contains(needle)),
            "no note about {needle}: {:#?}",
            m.notes
        );
    }
    assert!(t.starts_with("# roost.conf written by `roost migrate-dovecot`"));
    assert!(t.contains("Dovecot 2.3.19.1"));
}

#[test]
fn listeners_ports_addresses_and_tls() {
    let m = translate(
        "listen = *\nssl = no\nservice imap-login {\n  inet_listener imap {\n    address = 192.0.2.1\n    port = 1143\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}\n",
        "t",
    )
    .unwrap();
    assert_eq!(value(&m.text, "listen").as_deref(), Some("192.0.2.1:1143"));
    assert_eq!(value(&m.text, "listen_tls").as_deref(), Some(""));
    let m = translate(
        "listen = ::\ndisable_plaintext_auth = no\nservice imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}\n",
        "t",
    )
    .unwrap();
    assert_eq!(value(&m.text, "listen").as_deref(), Some(""));
    assert_eq!(value(&m.text, "listen_tls").as_deref(), Some("[::]:993"));
    assert_eq!(value(&m.text, "plaintext_auth").as_deref(), Some("always"));
}

#[test]
fn static_userdb_and_prefixes() {
    let conf = "listen = *\nssl_cert = </c.pem\nssl_key = </k.pem\n\
        mail_location = maildir:~/Maildir\n\
        namespace inbox {\n  inbox = yes\n  prefix = INBOX.\n  separator = .\n\
          mailbox Sent {\n    auto = no\n    special_use = \\Sent \\Archive\n  }\n}\n\
        passdb {\n  args = /etc/dovecot/users\n  driver = passwd-file\n}\n\
        userdb {\n  args = uid=vmail gid=vmail home=/var/vmail/%d/%n\n  driver = static\n}\n";
    let m = translate(conf, "t").unwrap();
    let t = &m.text;
    assert_eq!(
        value(t, "mail_location").as_deref(),
        Some("/var/vmail/%d/%n/Maildir")
    );
    assert_eq!(value(t, "user").as_deref(), Some("vmail"));
    assert_eq!(value(t, "group").as_deref(), Some("vmail"));
    assert_eq!(value(t, "namespace_prefix").as_deref(), Some("INBOX."));
    assert_eq!(
        value(t, "special_use").as_deref(),
        Some("INBOX.Sent=\\Sent, INBOX.Sent=\\Archive")
    );
    assert_eq!(value(t, "autocreate_special_use").as_deref(), Some("no"));
    assert_eq!(
        value(t, "passwd_file").as_deref(),
        Some("/etc/dovecot/users")
    );
    assert!(m.notes.is_empty(), "{:#?}", m.notes);
}

#[test]
fn passdb_oddities_become_notes() {
    let conf = "passdb {\n  args = scheme=PLAIN username_format=%n /etc/%d/users\n  driver = passwd-file\n}\n\
                passdb {\n  driver = pam\n}\nssl_key_password = hunter2\nfoo_setting = 1\n";
    let m = translate(conf, "t").unwrap();
    let all = m.notes.join("\n");
    assert!(all.contains("scheme=PLAIN"), "{all}");
    assert!(all.contains("username_format=%n"), "{all}");
    assert!(all.contains("depends on the login"), "{all}");
    assert_eq!(value(&m.text, "passdb").as_deref(), Some("pam"));
    assert!(all.contains("foo_setting = 1"), "{all}");
    assert!(!m.text.contains("hunter2"), "secrets are never echoed");
    assert_eq!(value(&m.text, "passwd_file"), None);
}

#[test]
fn pam_service_and_passdb_order_carry_over() {
    let conf = "passdb {\n  args = /etc/dovecot/users\n  driver = passwd-file\n}\n\
                passdb {\n  args = session=yes %s\n  driver = pam\n}\n\
                userdb {\n  driver = passwd\n}\nmail_location = maildir:~/Maildir\n";
    let m = translate(conf, "t").unwrap();
    let t = &m.text;
    assert_eq!(value(t, "passdb").as_deref(), Some("passwd-file,pam"));
    assert_eq!(value(t, "pam_service").as_deref(), Some("imap"));
    assert_eq!(value(t, "userdb").as_deref(), Some("passwd"));
    assert_eq!(value(t, "mail_location").as_deref(), Some("%h/Maildir"));
    assert_eq!(value(t, "user"), None);
    assert!(
        m.notes.iter().any(|n| n.contains("session=yes")),
        "{:#?}",
        m.notes
    );
}

#[test]
fn variables_times_and_sizes() {
    assert_eq!(translate_vars("/m/%d/%n").unwrap(), "/m/%d/%n");
    assert_eq!(translate_vars("/m/%Lu/%%").unwrap(), "/m/%u/%%");
    assert_eq!(
        translate_vars("/m/%{domain}/%{username}/%{user|lower}").unwrap(),
        "/m/%d/%n/%u"
    );
    assert!(translate_vars("/m/%2.256Hu").is_err());
    assert!(translate_vars("/m/%{service}").is_err());
    assert_eq!(seconds("2 mins"), Some(120));
    assert_eq!(seconds("30"), Some(30));
    assert_eq!(seconds("2 secs"), Some(2));
    assert_eq!(seconds("1500 ms"), Some(1));
    assert_eq!(seconds("soon"), None);
    assert_eq!(bytes("64k"), Some(65536));
    assert_eq!(bytes("1 M"), Some(1 << 20));
    assert_eq!(bytes("100"), Some(100));
    assert_eq!(bytes("lots"), None);
    assert_eq!(pem_path(" </etc/x.pem"), Ok("/etc/x.pem".into()));
    assert_eq!(pem_path("# hidden, use -P to show it"), Err(()));
}

#[test]
fn unparsable_input_is_an_error_naming_the_line() {
    let e = translate("a = 1\nnot a setting\n", "f.txt").unwrap_err();
    assert!(e.starts_with("f.txt: line 2"), "{e}");
}

fn has_note(m: &Migration, needle: &str) -> bool {
    m.notes.iter().any(|n| n.contains(needle))
}

#[test]
fn ipv6_wildcard_note_only_when_the_wildcards_are_used() {
    let m = translate(
        "ssl = no\nservice imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = 143\n  }\n  inet_listener imaps {\n    address = 127.0.0.1\n    port = 993\n  }\n}\n",
        "test",
    )
    .unwrap();
    assert_eq!(value(&m.text, "listen").as_deref(), Some("127.0.0.1:143"));
    assert!(!has_note(&m, "IPv6"), "{:#?}", m.notes);
    // One listener on the global default: the note comes, once.
    let m = translate(
        "ssl = no\nservice imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = 143\n  }\n}\n",
        "test",
    )
    .unwrap();
    assert_eq!(m.notes.iter().filter(|n| n.contains("IPv6")).count(), 1);
}

#[test]
fn special_use_notes_say_which_folders_roost_creates() {
    let conf = "namespace inbox {\n  inbox = yes\n  separator = /\n  mailbox Sent {\n    auto = subscribe\n    special_use = \\Sent\n  }\n  mailbox \"Sent Messages\" {\n    auto = subscribe\n    special_use = \\Sent\n  }\n  mailbox Trash {\n    special_use = \\Trash\n  }\n}\n";
    let m = translate(conf, "test").unwrap();
    assert!(
        has_note(&m, "mailbox Sent Messages: auto = subscribe: Roost creates only the first folder named for each special use (Sent for \\Sent), so Sent Messages is not created"),
        "{:#?}",
        m.notes
    );
    assert!(
        has_note(
            &m,
            "auto = no on Trash: with autocreate_special_use = yes Roost creates these"
        ),
        "{:#?}",
        m.notes
    );
    assert!(!has_note(&m, "creates every special-use folder"));
    assert!(!has_note(&m, "auto = no on Sent"), "{:#?}", m.notes);
}

#[test]
fn per_domain_users_files_say_names_become_user_at_domain() {
    let m = translate(
        "passdb {\n  args = scheme=SHA512-CRYPT /etc/dovecot/domains/%d/passwd\n  driver = passwd-file\n}\n",
        "test",
    )
    .unwrap();
    assert!(
        has_note(
            &m,
            "merge them into one passwd_file and write each user name in it as user@domain"
        ),
        "{:#?}",
        m.notes
    );
}

#[test]
fn users_whose_hashes_roost_cannot_verify_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        "ann:{SSHA512}k6luLVr3BJev12p2233rIyHvFzE0tuRmp8AvFJXrZTvzwOsB0eNE6kan3B1kZkMhdb33qQBYF8KNUHaPi+QdcCnpks0=::::::\n\
         bob:abJnggxhB/yJU::::::\ncy:{DIGEST-MD5}4b626f808aa26e1be6f69cfb24f2e271::::::\n\
         dee:{DES-CRYPT}FgjsQqO78UGQE::::::\n",
    )
    .unwrap();
    let m = translate(
        &format!(
            "passdb {{\n  args = {}\n  driver = passwd-file\n}}\n",
            users.display()
        ),
        "test",
    )
    .unwrap();
    let notes: Vec<&String> = m
        .notes
        .iter()
        .filter(|n| n.contains("cannot log in"))
        .collect();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(has_note(&m, "2 users cannot log in under Roost: their passwords use DES-CRYPT, which Roost cannot verify: bob, dee"), "{notes:#?}");
    assert!(
        has_note(
            &m,
            "1 user cannot log in under Roost: their passwords use DIGEST-MD5"
        ),
        "{notes:#?}"
    );
}

/// The Postfix part of a typical small-host setup: LMTP and the SMTP AUTH
/// socket in Postfix's queue directory, delimiter and detail folders.
const WITH_POSTFIX: &str = r#"# 2.3.19.1 (9b53102964): dovecot.conf
protocols = imap lmtp
recipient_delimiter = +
ssl = no
service auth {
  unix_listener /var/spool/postfix/private/auth {
    group = postfix
    mode = 0660
    user = postfix
  }
  unix_listener auth-userdb {
    mode = 0600
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 24
  }
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    group = postfix
    mode = 0660
    user = postfix
  }
}
protocol lmtp {
  lmtp_save_to_detail_mailbox = yes
  mail_plugins = sieve
}
"#;

#[test]
fn postfix_sockets_and_delivery_settings_carry_over() {
    let m = translate(WITH_POSTFIX, "test").unwrap();
    let t = &m.text;
    let want = [
        (
            "lmtp_listen",
            "unix:/var/spool/postfix/private/dovecot-lmtp, 127.0.0.1:24",
        ),
        ("auth_listen", "unix:/var/spool/postfix/private/auth"),
        ("unix_socket_owner", "postfix"),
        ("unix_socket_group", "postfix"),
        ("unix_socket_mode", "0660"),
        ("recipient_delimiter", "+"),
        ("lmtp_save_to_detail_mailbox", "yes"),
    ];
    for (k, v) in want {
        assert_eq!(value(t, k).as_deref(), Some(v), "{k} in\n{t}");
    }
    assert!(
        !has_note(&m, "protocol lmtp: Roost serves IMAP only"),
        "{:#?}",
        m.notes
    );
    assert!(
        has_note(&m, "smtpd_sasl_path = private/auth"),
        "{:#?}",
        m.notes
    );
    assert!(
        has_note(&m, "lmtp:unix:private/dovecot-lmtp"),
        "{:#?}",
        m.notes
    );
    let mut c = Config::default();
    c.apply_text("migrated", t).unwrap();
    assert_eq!(c.lmtp_listen.len(), 2);
    // LMTP named in protocols with no listener of its own: Dovecot's default.
    let m = translate("protocols = imap lmtp\nssl = no\n", "test").unwrap();
    assert_eq!(
        value(&m.text, "lmtp_listen").as_deref(),
        Some("unix:/run/dovecot/lmtp")
    );
}
