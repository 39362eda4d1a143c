//! `roost migrate-dovecot`: turns a Dovecot configuration, as `doveconf -n`
//! prints it, into an equivalent `roost.conf`, and lists what it could not
//! carry over. Each Roost key is validated with the configuration parser
//! before it is written, so the result loads as it is.

mod doveconf;
mod postfix;

use crate::config::{Config, KEYS};
use doveconf::{DoveConf, Section};
use std::path::Path;
use std::process::Command;

/// The translated configuration and what did not make it.
#[derive(Debug)]
pub struct Migration {
    /// The complete roost.conf text: header, notes as comments, settings.
    pub text: String,
    /// What could not be carried over, one line each.
    pub notes: Vec<String>,
}

/// Keys that Roost does not need: they tune parts of Dovecot that Roost
/// does not have (logging, process model, other protocols).
const IGNORABLE: &[&str] = &[
    "base_dir",
    "state_dir",
    "instance_name",
    "log_path",
    "info_log_path",
    "debug_log_path",
    "log_timestamp",
    "syslog_facility",
    "login_log_format_elements",
    "mail_log_prefix",
    "first_valid_uid",
    "last_valid_uid",
    "first_valid_gid",
    "last_valid_gid",
    "mail_privileged_group",
    "mail_access_groups",
    "ssl_dh",
    "ssl_client_ca_dir",
    "ssl_client_ca_file",
    "ssl_cipher_list",
    "ssl_prefer_server_ciphers",
    "ssl_min_protocol",
    "postmaster_address",
    "hostname",
    "default_vsz_limit",
    "default_process_limit",
    "default_client_limit",
    "lda_mailbox_autocreate",
    "lda_mailbox_autosubscribe",
    "mail_plugins",
    "auth_username_format",
    "auth_default_realm",
    "auth_realms",
    "verbose_proctitle",
    "shutdown_clients",
    "maildir_very_dirty_syncs",
    "maildir_copy_with_hardlinks",
    "mail_fsync",
    "mmap_disable",
    "mail_nfs_storage",
    "mail_nfs_index",
    "lock_method",
];

/// Section kinds that only configure what Roost does not have.
const IGNORABLE_SECTIONS: &[&str] = &["service", "plugin", "protocol", "dict", "metadata"];

/// Reads the Dovecot configuration at `path`: a file with `doveconf -n`
/// output, `-` for standard input, or a directory such as /etc/dovecot (then
/// `doveconf -n -P` is run on its dovecot.conf). Returns the doveconf text
/// and a description of where it came from.
pub fn read_source(path: &Path) -> Result<(String, String), String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("standard input: {e}"))?;
        return Ok((text, "doveconf output on standard input".into()));
    }
    if path.is_dir() {
        let conf = path.join("dovecot.conf");
        if !conf.is_file() {
            return Err(format!(
                "{}: no dovecot.conf in this directory",
                path.display()
            ));
        }
        // -P shows ssl_key, which doveconf hides otherwise; only paths and
        // the settings translated here end up in the output.
        let out = Command::new("doveconf")
            .arg("-c")
            .arg(&conf)
            .args(["-n", "-P"])
            .output()
            .map_err(|e| {
                format!(
                    "cannot run doveconf ({e}): on the Dovecot host run \
                     `doveconf -n -P > dovecot.txt` and pass that file instead"
                )
            })?;
        if !out.status.success() {
            return Err(format!(
                "doveconf -c {} -n -P failed: {}",
                conf.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8(out.stdout).map_err(|_| "doveconf output is not UTF-8")?;
        return Ok((text, format!("`doveconf -c {} -n -P`", conf.display())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((text, path.display().to_string()))
}

/// Translates doveconf output; `source` says where it came from (for the
/// header). Fails only when the text cannot be parsed.
pub fn translate(text: &str, source: &str) -> Result<Migration, String> {
    let conf = doveconf::parse(text).map_err(|e| format!("{source}: {e}"))?;
    let mut t = Translator::new(&conf);
    t.run();
    Ok(t.finish(source))
}

/// One key for roost.conf, with where it came from.
struct Out {
    key: &'static str,
    value: String,
    from: String,
}

struct Translator<'a> {
    conf: &'a DoveConf,
    /// The passdb drivers carried over, in order.
    passdbs: Vec<&'static str>,
    out: Vec<Out>,
    notes: Vec<String>,
    ignored: Vec<String>,
}

impl<'a> Translator<'a> {
    fn new(conf: &'a DoveConf) -> Self {
        Translator {
            conf,
            passdbs: Vec::new(),
            out: Vec::new(),
            notes: Vec::new(),
            ignored: Vec::new(),
        }
    }

    fn root(&self) -> &'a Section {
        &self.conf.root
    }

    /// A setting as the IMAP service sees it: `protocol imap { }` first.
    fn imap_get(&self, key: &str) -> Option<&'a str> {
        let inner = self
            .root()
            .section("protocol", "imap")
            .and_then(|p| p.get(key));
        let outer = self.root().get(key);
        inner.or(outer)
    }

    fn set(&mut self, key: &'static str, value: impl Into<String>, from: impl Into<String>) {
        self.out.retain(|o| o.key != key);
        self.out.push(Out {
            key,
            value: value.into(),
            from: from.into(),
        });
    }

    fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    fn run(&mut self) {
        self.protocols();
        self.listeners();
        let tls = self.tls();
        self.plaintext(tls);
        let passwd_path = self.passdb();
        let userdb = self.userdb(passwd_path.as_deref());
        self.accounts(&userdb, passwd_path.as_deref());
        self.mail_location(&userdb, passwd_path.as_deref());
        self.namespace();
        self.auth_mechanisms();
        self.tunables();
        self.postfix_services();
    }

    fn protocols(&mut self) {
        let Some(p) = self.root().get("protocols") else {
            return;
        };
        let list: Vec<&str> = p.split_whitespace().collect();
        if !list.contains(&"imap") {
            self.note(format!(
                "protocols = {p}: Dovecot did not serve IMAP; the listeners below are its defaults"
            ));
        }
        // LMTP: see postfix_services.
        for other in list.iter().filter(|p| **p != "imap" && **p != "lmtp") {
            self.note(format!(
                "protocol {other}: Roost serves IMAP only; keep another server for {other}"
            ));
        }
    }

    /// `listen` and the imap-login service's inet_listeners. Dovecot's
    /// defaults: imap on 143, imaps (TLS) on 993, every address.
    fn listeners(&mut self) {
        let global = self.root().get("listen").unwrap_or("*, ::").to_string();
        // Read (and noted on) only if a listener has no address of its own.
        let mut global_addrs: Option<Vec<String>> = None;
        // (name, port, tls, address override)
        let mut listeners: Vec<(String, u16, bool, Option<String>)> = vec![
            ("imap".into(), 143, false, None),
            ("imaps".into(), 993, true, None),
        ];
        if let Some(service) = self.root().section("service", "imap-login") {
            for l in service.sections_of("inet_listener") {
                let port = l.get("port");
                let ssl = l.get("ssl");
                let address = l.get("address").map(str::to_string);
                let idx = match listeners.iter().position(|x| x.0 == l.name) {
                    Some(i) => i,
                    None => {
                        listeners.push((l.name.clone(), 0, false, None));
                        listeners.len() - 1
                    }
                };
                let entry = &mut listeners[idx];
                if let Some(p) = port {
                    match p.trim().parse::<u16>() {
                        Ok(p) => entry.1 = p,
                        Err(_) => self.notes.push(format!(
                            "inet_listener {}: port {p:?} is not a port number",
                            l.name
                        )),
                    }
                }
                match ssl {
                    Some("yes") => entry.2 = true,
                    Some("no") => entry.2 = false,
                    _ => {}
                }
                if address.is_some() {
                    entry.3 = address;
                }
                if l.get("haproxy") == Some("yes") {
                    self.notes.push(format!(
                        "inet_listener {}: haproxy = yes: Roost does not read the PROXY protocol",
                        l.name
                    ));
                }
            }
        }
        let mut plain = Vec::new();
        let mut tls = Vec::new();
        for (name, port, is_tls, address) in listeners {
            if port == 0 {
                continue;
            }
            let addrs = match &address {
                Some(a) => self.addresses(a, &format!("inet_listener {name} address")),
                None => match &global_addrs {
                    Some(g) => g.clone(),
                    None => {
                        let g = self.addresses(&global, "listen");
                        global_addrs = Some(g.clone());
                        g
                    }
                },
            };
            let list = if is_tls { &mut tls } else { &mut plain };
            for a in addrs {
                list.push(if a.contains(':') {
                    format!("[{a}]:{port}")
                } else {
                    format!("{a}:{port}")
                });
            }
        }
        self.set("listen", plain.join(", "), "listen and service imap-login");
        self.set(
            "listen_tls",
            tls.join(", "),
            "listen and service imap-login",
        );
    }

    /// Dovecot's listen addresses as IP strings (no brackets). `*` and `::`
    /// together become 0.0.0.0 alone: Roost binds them separately, and on
    /// Linux a [::] socket also takes IPv4, so the two would clash.
    fn addresses(&mut self, value: &str, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        for a in value
            .split([',', ' '])
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let ip = match a {
                "*" => "0.0.0.0".to_string(),
                "::" | "[::]" => "::".to_string(),
                other => other
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            };
            if ip.parse::<std::net::IpAddr>().is_err() {
                self.note(format!(
                    "{what}: {a:?} is not an IP address; Roost listens on addresses only"
                ));
                continue;
            }
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        if out.iter().any(|a| a == "0.0.0.0") && out.iter().any(|a| a == "::") {
            out.retain(|a| a != "::");
            self.note(format!(
                "{what}: the IPv6 wildcard :: was left out next to *: Roost would bind both and \
                 clash; to serve IPv6 too, use [::]:PORT alone (it also accepts IPv4 on Linux)"
            ));
        }
        out
    }

    /// ssl, ssl_cert, ssl_key. Returns whether TLS is configured.
    fn tls(&mut self) -> bool {
        let ssl = self.root().get("ssl").unwrap_or("yes").to_string();
        let cert = self.root().get("ssl_cert").map(pem_path);
        let key = self.root().get("ssl_key").map(pem_path);
        for extra in [
            "ssl_key_password",
            "ssl_ca",
            "ssl_verify_client_cert",
            "ssl_alt_cert",
        ] {
            if self.root().get(extra).is_some_and(|v| !v.is_empty()) {
                self.note(format!("{extra}: Roost has no such setting; left out"));
            }
        }
        if ssl == "no" {
            self.note("ssl = no: Dovecot had TLS off; Roost keeps it off (no tls_cert)");
            self.set("listen_tls", "", "ssl = no");
            return false;
        }
        match (cert, key) {
            (Some(Ok(c)), Some(Ok(k))) if !c.is_empty() && !k.is_empty() => {
                self.set("tls_cert", c, "ssl_cert");
                self.set("tls_key", k, "ssl_key");
                true
            }
            (_, Some(Err(()))) | (Some(Err(())), _) => {
                self.note(
                    "ssl_cert/ssl_key: doveconf hid the value; run `doveconf -n -P` so the key \
                     path is shown, or set tls_cert and tls_key by hand",
                );
                false
            }
            _ => {
                self.note(
                    "ssl_cert/ssl_key: not both set; TLS is off until tls_cert and tls_key are",
                );
                false
            }
        }
    }

    /// ssl = required and disable_plaintext_auth → plaintext_auth.
    fn plaintext(&mut self, tls: bool) {
        let ssl = self.root().get("ssl").unwrap_or("yes").to_string();
        let given = self.imap_get("disable_plaintext_auth").map(str::to_string);
        let disable = given.clone().unwrap_or_else(|| "yes".into());
        let (value, from) = if ssl == "required" {
            ("never", "ssl = required".to_string())
        } else if disable == "no" {
            ("always", "disable_plaintext_auth = no".to_string())
        } else {
            // Dovecot treats loopback connections as secure, as Roost does.
            let from = match given {
                Some(v) => format!("disable_plaintext_auth = {v}"),
                None => "default disable_plaintext_auth = yes".to_string(),
            };
            ("tls-or-local", from)
        };
        if value == "never" && !tls {
            self.note(
                "ssl = required without a usable certificate: no one can log in until \
                 tls_cert and tls_key are set",
            );
        }
        if self.root().get("login_trusted_networks").is_some() {
            self.note("login_trusted_networks: Roost trusts only loopback for plaintext logins");
        }
        self.set("plaintext_auth", value, from);
    }

    /// The passdb: a passwd-file gives passwd_file. Returns its path.
    fn passdb(&mut self) -> Option<String> {
        let mut found = None;
        let passdbs: Vec<&Section> = self.root().sections_of("passdb").collect();
        for (i, p) in passdbs.iter().enumerate() {
            p.mark_used();
            let driver = p.get("driver").unwrap_or("");
            let args = p.get("args").unwrap_or("");
            let label = format!("passdb {} (driver {driver})", i + 1);
            if driver == "pam" {
                self.pam_passdb(&label, args);
                continue;
            }
            if driver != "passwd-file" {
                self.note(format!(
                    "{label}: Roost reads users only from a passwd-file; put these users in \
                     passwd_file, with hashes from `roost hash`"
                ));
                continue;
            }
            if found.is_some() {
                self.note(format!(
                    "{label}: Roost reads one users file; this one is left out"
                ));
                continue;
            }
            for flag in ["deny", "master", "pass"] {
                if p.get(flag) == Some("yes") {
                    self.note(format!(
                        "{label}: {flag} = yes has no counterpart; left out"
                    ));
                }
            }
            let parsed = FileArgs::parse(args);
            for (k, v) in &parsed.options {
                match (k.as_str(), v.as_str()) {
                    ("username_format", "%u" | "%Lu" | "%{user}" | "%{user|lower}") => {}
                    ("scheme", s)
                        if ["CRYPT", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT"]
                            .contains(&s.to_ascii_uppercase().as_str()) => {}
                    ("scheme", s) => self.note(format!(
                        "{label}: scheme={s}: Roost reads passwords without a {{SCHEME}} prefix as \
                         CRYPT; add the {{{s}}} prefix to such lines"
                    )),
                    (k, v) => self.note(format!(
                        "{label}: {k}={v}: Roost looks users up by the full login name (then in \
                         lower case); left out"
                    )),
                }
            }
            match parsed.path {
                Some(path) if path.contains('%') => {
                    let per_domain = ["%d", "%Ld", "%{domain", "%{user|domain"]
                        .iter()
                        .any(|d| path.contains(d));
                    let names = if per_domain {
                        " and write each user name in it as user@domain (ann in the \
                         example.org file becomes ann@example.org): Roost looks users up by \
                         the full login name, where a per-domain file holds only the local part"
                    } else {
                        ", each user name written as the full login name"
                    };
                    self.note(format!(
                        "{label}: the users file path {path} depends on the login; Roost reads \
                         one file: merge them into one passwd_file{names}"
                    ))
                }
                Some(path) => {
                    self.passdbs.push("passwd-file");
                    self.set("passwd_file", path.clone(), format!("{label} args"));
                    self.unverifiable_users(&path);
                    found = Some(path);
                }
                None => self.note(format!("{label}: no file in args {args:?}")),
            }
        }
        if passdbs.is_empty() {
            self.note("no passdb: set passwd_file to a users file");
        }
        if self.passdbs.contains(&"pam") {
            let list = self.passdbs.join(",");
            self.set("passdb", list, "passdb sections, in order".to_string());
        }
        found
    }

    /// A `pam` passdb: `args` may name the service (`%s`: the protocol's).
    fn pam_passdb(&mut self, label: &str, args: &str) {
        if self.passdbs.contains(&"pam") {
            self.note(format!("{label}: one PAM passdb is carried over; left out"));
            return;
        }
        self.passdbs.push("pam");
        for arg in args.split_whitespace() {
            match arg.split_once('=') {
                Some(("session" | "setcred", "yes")) => self.note(format!(
                    "{label}: {arg}: Roost runs PAM's auth and account stacks only, never \
                     sessions or credentials; left out"
                )),
                Some(_) => self.note(format!("{label}: {arg} has no counterpart; left out")),
                None => {
                    let service = if arg == "%s" || arg == "%{protocol}" {
                        "imap"
                    } else {
                        arg
                    };
                    self.set("pam_service", service.to_string(), format!("{label} args"));
                }
            }
        }
    }

    /// Users in the passwd file whose hashes Roost cannot verify, named
    /// by scheme: they could not log in after the move. A file this run
    /// cannot read is left to `roost check`.
    fn unverifiable_users(&mut self, path: &str) {
        let Ok(passwd) = crate::auth::passwd::PasswdFile::open(Path::new(path)) else {
            return;
        };
        let mut by_scheme: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for entry in passwd.entries() {
            if let Some(scheme) = crate::auth::scheme::unsupported_scheme(entry.password.expose()) {
                by_scheme.entry(scheme).or_default().push(entry.name);
            }
        }
        for (scheme, users) in by_scheme {
            self.note(format!(
                "{path}: {} cannot log in under Roost: their passwords use {scheme}, which \
                 Roost cannot verify: {}; give them new passwords with `roost hash`",
                match users.len() {
                    1 => "1 user".to_string(),
                    n => format!("{n} users"),
                },
                users.join(", ")
            ));
        }
    }

    /// The userdb: where homes, uids and mail locations come from.
    fn userdb(&mut self, passwd_path: Option<&str>) -> UserDb {
        let mut db = UserDb::default();
        let userdbs: Vec<&Section> = self.root().sections_of("userdb").collect();
        for (i, u) in userdbs.iter().enumerate() {
            u.mark_used();
            let driver = u.get("driver").unwrap_or("").to_string();
            let args = u.get("args").unwrap_or("").to_string();
            let label = format!("userdb {} (driver {driver})", i + 1);
            if i > 0 {
                self.note(format!("{label}: only the first userdb is carried over"));
                continue;
            }
            let mut fields: Vec<(String, String, bool)> = Vec::new();
            match driver.as_str() {
                "static" => {
                    for (k, v) in split_fields(&args) {
                        fields.push((k, v, true));
                    }
                }
                "passwd-file" => {
                    let parsed = FileArgs::parse(&args);
                    if let (Some(p), Some(pp)) = (&parsed.path, passwd_path) {
                        if p != pp {
                            self.note(format!(
                                "{label}: homes and uids came from {p}, passwords from {pp}; \
                                 Roost reads both from passwd_file"
                            ));
                        }
                    }
                    db.from_file = true;
                }
                "prefetch" => db.from_file = true,
                "passwd" => {
                    db.system = true;
                    self.set("userdb", "passwd".to_string(), label.clone());
                }
                other => self.note(format!(
                    "{label}: driver {other} is not supported; left out"
                )),
            }
            for (key, overrides) in [("default_fields", false), ("override_fields", true)] {
                if let Some(v) = u.get(key) {
                    for (k, val) in split_fields(v) {
                        fields.push((k, val, overrides));
                    }
                }
            }
            for (k, v, overrides) in fields {
                let slot = match k.as_str() {
                    "home" => &mut db.home,
                    "uid" => &mut db.uid,
                    "gid" => &mut db.gid,
                    "mail" => &mut db.mail,
                    "allow_all_users" | "blocking" => continue,
                    _ => {
                        self.note(format!(
                            "{label}: field {k}={v} has no counterpart; left out"
                        ));
                        continue;
                    }
                };
                // A file's own value wins over default_fields.
                *slot = Some((v, overrides || !db.from_file));
            }
        }
        db
    }

    /// mail_uid/mail_gid or the userdb's uid/gid → user/group.
    fn accounts(&mut self, db: &UserDb, passwd_path: Option<&str>) {
        if db.system {
            // Each session runs as its own user: no `user`/`group` to set.
            if self.imap_get("mail_uid").is_some_and(|v| !v.is_empty()) {
                self.note(
                    "mail_uid with userdb passwd: Roost runs each session as its system user; \
                     mail_uid is left out",
                );
            }
            return;
        }
        let uid = self
            .imap_get("mail_uid")
            .filter(|v| !v.is_empty())
            .map(|v| (v.to_string(), "mail_uid".to_string()))
            .or_else(|| {
                db.uid
                    .as_ref()
                    .map(|(v, _)| (v.clone(), "userdb uid".into()))
            });
        let gid = self
            .imap_get("mail_gid")
            .filter(|v| !v.is_empty())
            .map(|v| (v.to_string(), "mail_gid".to_string()))
            .or_else(|| {
                db.gid
                    .as_ref()
                    .map(|(v, _)| (v.clone(), "userdb gid".into()))
            });
        let (uid, gid) = match (uid, gid) {
            (None, None) if db.from_file => match passwd_path.and_then(common_ids) {
                Some((u, g)) => (
                    Some((u, "the uid every user has in the users file".to_string())),
                    g.map(|g| (g, "the gid every user has in the users file".to_string())),
                ),
                None => (None, None),
            },
            other => other,
        };
        let set_account = |t: &mut Self, key: &'static str, v: Option<(String, String)>| {
            if let Some((value, from)) = v {
                if value.contains('%') {
                    t.note(format!(
                        "{from} = {value}: a per-user {key} has no counterpart"
                    ));
                } else {
                    t.set(key, value, from);
                }
            }
        };
        set_account(self, "group", gid);
        let had_uid = uid.is_some();
        set_account(self, "user", uid);
        if !had_uid {
            self.note(
                "no single account owns the mail (no mail_uid): Roost serves every user as one \
                 account; set `user` to the owner of the Maildirs",
            );
        }
    }

    /// mail_location (or the userdb's mail field) → mail_location and
    /// mailbox_names_utf8.
    fn mail_location(&mut self, db: &UserDb, passwd_path: Option<&str>) {
        let (value, from) = match (&db.mail, self.imap_get("mail_location")) {
            (Some((m, _)), _) => (m.clone(), "userdb mail".to_string()),
            (_, Some(v)) if !v.is_empty() => (v.to_string(), "mail_location".to_string()),
            _ => {
                self.note(
                    "mail_location is empty: Dovecot looked for the mail itself; Roost uses \
                     %h/Maildir unless mail_location is set",
                );
                return;
            }
        };
        use crate::mail_location::Opt;
        let location = crate::mail_location::split(&value);
        let kind = location.format;
        if kind != "maildir" {
            // Writing `%h/Maildir` here would serve every user an empty
            // mailbox; the administrator has to convert first.
            self.note(format!(
                "{from} = {value}: Roost serves Maildir only, and this is {kind}; mail_location \
                 is left unset on purpose. Convert each user's mail to ~/Maildir first, e.g. \
                 `doveadm sync -u USER maildir:~/Maildir` (with Dovecot still running) or \
                 `mb2md -m` (Debian package mb2md), then set mail_location = ~/Maildir"
            ));
            return;
        }
        let path = location.path;
        let mut utf8 = false;
        for option in &location.options {
            match option {
                Opt::Utf8 => utf8 = true,
                Opt::Maildirpp => {}
                Opt::Index(k) => self
                    .ignored
                    .push(format!("mail_location {k}= (Dovecot's index files)")),
                Opt::Reshapes { key, value: v, raw } => match key.as_str() {
                    "LAYOUT" => self.note(format!(
                        "{from}: LAYOUT={v}: Roost reads the Maildir++ layout only (folders as \
                         .Name directories); convert the tree, e.g. with `doveadm sync`, or \
                         folders will not be found"
                    )),
                    "CONTROL" => self.note(format!(
                        "{from}: CONTROL={v}: Roost keeps dovecot-uidlist and subscriptions in \
                         the Maildir itself; move them there first or message UIDs will change"
                    )),
                    "INBOX" => self.note(format!(
                        "{from}: INBOX={v}: Roost's INBOX is the Maildir root itself; left out"
                    )),
                    _ => self.note(format!("{from}: {raw} has no counterpart; left out")),
                },
            }
        }
        let home = match &db.home {
            Some((h, _)) => match translate_vars(h) {
                Ok(h) => Some(h),
                Err(e) => {
                    self.note(format!("userdb home = {h}: {e}"));
                    return;
                }
            },
            None => None,
        };
        let some_own_home = passwd_path.is_none_or(|p| any_home(p).unwrap_or(true));
        if let (Some((h, false)), true) = (&db.home, some_own_home) {
            self.note(format!(
                "userdb default home {h}: users whose passwd_file line gives a home keep \
                 Dovecot's behaviour only if mail_location uses %h; Roost now uses {h} for all"
            ));
        }
        let expanded = match translate_vars(path) {
            Ok(p) => p,
            Err(e) => {
                self.note(format!("{from} = {value}: {e}"));
                return;
            }
        };
        let home_part = home.unwrap_or_else(|| "%h".to_string());
        let location = if expanded == "~" {
            home_part
        } else if let Some(rest) = expanded.strip_prefix("~/") {
            format!("{home_part}/{rest}")
        } else {
            expanded.replace("%h", &home_part)
        };
        self.set("mail_location", location, format!("{from} = {value}"));
        if utf8 {
            self.set("mailbox_names_utf8", "yes", format!("{from}: UTF-8"));
        }
    }

    /// The INBOX namespace: separator, prefix and special-use mailboxes.
    fn namespace(&mut self) {
        let namespaces: Vec<&Section> = self.root().sections_of("namespace").collect();
        let inbox = namespaces
            .iter()
            .position(|n| n.get("inbox") == Some("yes"))
            .or(if namespaces.len() == 1 { Some(0) } else { None });
        for (i, ns) in namespaces.iter().enumerate() {
            if Some(i) != inbox {
                ns.mark_used();
                self.note(format!(
                    "namespace {}: Roost has one namespace (the one with INBOX); left out",
                    ns.name
                ));
            }
        }
        let Some(ns) = inbox.map(|i| namespaces[i]) else {
            return;
        };
        let label = format!("namespace {}", ns.name);
        ns.get("inbox");
        ns.get("type");
        let separator = ns.get("separator").unwrap_or("").to_string();
        match separator.as_str() {
            "" => {}
            "." | "/" => self.set(
                "namespace_separator",
                separator.clone(),
                format!("{label} separator"),
            ),
            other => self.note(format!(
                "{label}: separator {other:?}: Roost offers . or / only"
            )),
        }
        let prefix = ns.get("prefix").unwrap_or("").to_string();
        if !prefix.is_empty() {
            self.set(
                "namespace_prefix",
                prefix.clone(),
                format!("{label} prefix"),
            );
        }
        for (k, v) in [
            ("location", ""),
            ("list", "yes"),
            ("hidden", "no"),
            ("subscriptions", "yes"),
        ] {
            if let Some(val) = ns.get(k) {
                if val != v {
                    self.note(format!("{label}: {k} = {val} has no counterpart; left out"));
                }
            }
        }
        let mut pairs = Vec::new();
        let mut auto = false;
        let mut manual = Vec::new();
        // (name, its uses, its auto) of every special-use folder, in order:
        // Roost creates only the first folder named for each use.
        let mut folders: Vec<(String, Vec<String>, String)> = Vec::new();
        for mb in ns.sections_of("mailbox") {
            let name = format!("{prefix}{}", mb.name);
            let uses: Vec<String> = mb
                .get("special_use")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let autocreate = mb.get("auto").unwrap_or("no").to_string();
            if uses.is_empty() {
                if autocreate != "no" {
                    self.note(format!(
                        "{label}: mailbox {name}: auto = {autocreate} without special_use; \
                         create it once by hand"
                    ));
                }
            } else if name.contains([',', '=']) {
                self.note(format!(
                    "{label}: mailbox {name}: a name with , or = cannot be written in special_use"
                ));
            } else {
                for u in &uses {
                    pairs.push(format!("{name}={u}"));
                }
                folders.push((name.clone(), uses, autocreate.clone()));
                auto |= autocreate != "no";
                if autocreate == "no" {
                    manual.push(name.clone());
                }
            }
            for s in &mb.settings {
                if !["special_use", "auto"].contains(&s.key.as_str()) {
                    mb.get(&s.key);
                    self.notes.push(format!(
                        "{label}: mailbox {name}: {} = {} has no counterpart; left out",
                        s.key, s.value
                    ));
                }
            }
        }
        if auto {
            self.special_use_creation(&label, &folders, &manual);
        }
        if !pairs.is_empty() {
            self.set(
                "special_use",
                pairs.join(", "),
                format!("{label} mailbox special_use"),
            );
            self.set(
                "autocreate_special_use",
                if auto { "yes" } else { "no" },
                format!("{label} mailbox auto"),
            );
        }
    }

    /// What `autocreate_special_use = yes` makes differently from Dovecot's
    /// per-mailbox `auto`: Roost creates the first folder named for each
    /// use (also one Dovecot left to the user) and never a second one.
    fn special_use_creation(
        &mut self,
        label: &str,
        folders: &[(String, Vec<String>, String)],
        manual: &[String],
    ) {
        let first_for = |use_: &str| {
            folders
                .iter()
                .find(|(_, uses, _)| uses.iter().any(|u| u == use_))
                .map(|(n, _, _)| n.as_str())
        };
        let created = |name: &str, uses: &[String]| uses.iter().any(|u| first_for(u) == Some(name));
        let made_here: Vec<&str> = folders
            .iter()
            .filter(|(n, uses, _)| manual.contains(n) && created(n, uses))
            .map(|(n, _, _)| n.as_str())
            .collect();
        if !made_here.is_empty() {
            self.note(format!(
                "{label}: auto = no on {}: with autocreate_special_use = yes Roost creates these \
                 at login too, as the first folder named for their special use; Dovecot did not",
                made_here.join(", ")
            ));
        }
        for (name, uses, auto) in folders {
            if auto != "no" && !created(name, uses) {
                let firsts: Vec<String> = uses
                    .iter()
                    .filter_map(|u| first_for(u).map(|f| format!("{f} for {u}")))
                    .collect();
                self.note(format!(
                    "{label}: mailbox {name}: auto = {auto}: Roost creates only the first folder \
                     named for each special use ({}), so {name} is not created at login; \
                     create it once by hand",
                    firsts.join(", ")
                ));
            }
        }
    }

    fn auth_mechanisms(&mut self) {
        let Some(m) = self.root().get("auth_mechanisms") else {
            return;
        };
        let m = m.to_string();
        // Carried: those that need nothing but the passwd file. The token
        // and certificate ones need keys Dovecot keeps elsewhere.
        let mut carried = vec!["plain".to_string(), "login".to_string()];
        let mut left = Vec::new();
        for mech in m.split_whitespace().map(str::to_ascii_lowercase) {
            match mech.as_str() {
                "plain" | "login" => {}
                "scram-sha-256" | "scram-sha-256-plus" | "scram-sha-1" | "scram-sha-1-plus"
                | "cram-md5" => {
                    let base = mech.trim_end_matches("-plus").to_string();
                    if !carried.contains(&base) {
                        carried.push(base);
                    }
                }
                _ => left.push(mech),
            }
        }
        if carried.len() > 2 {
            self.set(
                "auth_mechanisms",
                carried.join(" "),
                format!("auth_mechanisms = {m}"),
            );
        }
        if !left.is_empty() {
            self.note(format!(
                "auth_mechanisms: {} not carried over; Roost also offers oauthbearer and \
                 xoauth2 (with oauth2_hmac_key_file or oauth2_public_key_file) and external \
                 (with tls_client_ca): add them by hand",
                left.join(" ")
            ));
        }
    }

    /// Timers and limits Roost also has.
    fn tunables(&mut self) {
        let table: [(&str, &'static str, fn(&str) -> Option<u64>); 3] = [
            ("imap_idle_notify_interval", "idle_keepalive_secs", |v| {
                seconds(v)
            }),
            ("auth_failure_delay", "auth_failure_delay_ms", |v| {
                seconds(v).map(|s| s * 1000)
            }),
            ("imap_max_line_length", "max_line_length", bytes),
        ];
        for (dkey, rkey, convert) in table {
            if let Some(v) = self.imap_get(dkey) {
                match convert(v) {
                    Some(n) => self.set(rkey, n.to_string(), format!("{dkey} = {v}")),
                    None => self.note(format!("{dkey} = {v}: cannot read the value; left out")),
                }
            }
        }
    }

    /// Validates each key, then writes the file text.
    fn finish(mut self, source: &str) -> Migration {
        for (path, s) in self.root().unused() {
            let top = path.split(' ').next().unwrap_or("");
            let shown = if is_secret(&s.key) {
                "(hidden)"
            } else {
                s.value.as_str()
            };
            if path.is_empty() && IGNORABLE.contains(&s.key.as_str()) {
                self.ignored.push(s.key.clone());
            } else if IGNORABLE_SECTIONS.contains(&top)
                && !path.starts_with("protocol imap")
                && !path.starts_with("service imap-login")
            {
                if !self.ignored.contains(&path) {
                    self.ignored.push(path);
                }
            } else if path.is_empty() {
                self.notes
                    .push(format!("{} = {shown}: no counterpart in Roost", s.key));
            } else {
                self.notes.push(format!(
                    "{path}: {} = {shown}: no counterpart in Roost",
                    s.key
                ));
            }
        }
        for empty in self.root().unused_empty_sections() {
            self.ignored.push(empty);
        }
        // Every key must load; a bad translation becomes a note, not a broken file.
        let mut probe = Config::default();
        let mut lines = Vec::new();
        let order = |k: &str| {
            KEYS.iter()
                .position(|(n, _, _)| *n == k)
                .unwrap_or(KEYS.len())
        };
        self.out.sort_by_key(|o| order(o.key));
        for o in &self.out {
            match probe.set(o.key, &o.value) {
                Ok(()) => lines.push(o),
                // Keys this build does not know yet are still written (a
                // newer Roost reads them); anything else is a real problem.
                Err(e) if e.starts_with("unknown key") && order(o.key) == KEYS.len() => {
                    lines.push(o)
                }
                Err(e) => self.notes.push(format!("{} (from {}): {e}", o.key, o.from)),
            }
        }
        let mut text = String::new();
        text.push_str("# roost.conf written by `roost migrate-dovecot` from\n");
        text.push_str(&format!("# {source}\n"));
        if let Some(version) = self.conf.header.first() {
            text.push_str(&format!("# (Dovecot {version})\n"));
        }
        text.push_str(
            "# Review it, then run `roost check -c FILE`; roost.conf(5) describes each key.\n",
        );
        if !self.notes.is_empty() {
            text.push_str("#\n# Not carried over:\n");
            for n in &self.notes {
                text.push_str(&format!("#  - {n}\n"));
            }
        }
        if !self.ignored.is_empty() {
            self.ignored.dedup();
            text.push_str("#\n# Ignored (they tune parts of Dovecot that Roost does not have):\n");
            for chunk in wrap(&self.ignored.join(", "), 74) {
                text.push_str(&format!("#   {chunk}\n"));
            }
        }
        for o in lines {
            text.push_str(&format!(
                "\n# From Dovecot's {}\n{} = {}\n",
                o.from, o.key, o.value
            ));
        }
        Migration {
            text,
            notes: self.notes,
        }
    }
}

/// What the userdb says: (value, whether it applies to every user).
#[derive(Default)]
struct UserDb {
    home: Option<(String, bool)>,
    uid: Option<(String, bool)>,
    gid: Option<(String, bool)>,
    mail: Option<(String, bool)>,
    /// Per-user values come from the users file.
    from_file: bool,
    /// `driver = passwd`: the system's accounts, each session as its user.
    system: bool,
}

/// passwd-file `args`: `key=value` options, then the file path.
struct FileArgs {
    options: Vec<(String, String)>,
    path: Option<String>,
}

impl FileArgs {
    fn parse(args: &str) -> FileArgs {
        let mut options = Vec::new();
        let mut path = None;
        for word in args.split_whitespace() {
            match word.split_once('=') {
                Some((k, v)) if path.is_none() && !k.contains('/') => {
                    options.push((k.to_string(), v.to_string()))
                }
                _ => path = Some(word.to_string()),
            }
        }
        FileArgs { options, path }
    }
}

/// `key=value key=value` fields, as in default_fields or static args.
fn split_fields(s: &str) -> Vec<(String, String)> {
    s.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `<path` (doveconf's "read from file") → `path`; a hidden value → Err.
fn pem_path(value: &str) -> Result<String, ()> {
    if value.starts_with("# hidden") {
        return Err(());
    }
    Ok(value.trim().trim_start_matches('<').trim().to_string())
}

fn is_secret(key: &str) -> bool {
    key.contains("password") || key.contains("secret")
}

/// Dovecot's `%` variables into Roost's (%u %n %d %h %%). `%L` (lower
/// case) is dropped: Roost already retries a login in lower case.
fn translate_vars(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'L') {
            chars.next();
        }
        match chars.next() {
            Some(v @ ('u' | 'n' | 'd' | 'h' | '%')) => {
                out.push('%');
                out.push(v);
            }
            Some('{') => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let name = name.strip_suffix("|lower").unwrap_or(&name);
                let v = match name {
                    "user" => 'u',
                    "username" => 'n',
                    "domain" => 'd',
                    "home" => 'h',
                    _ => return Err(format!("the variable %{{{name}}} has no counterpart")),
                };
                out.push('%');
                out.push(v);
            }
            other => {
                return Err(format!(
                    "the variable %{} has no counterpart (Roost knows %u, %n, %d, %h)",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    Ok(out)
}

/// Dovecot time: `30`, `30 secs`, `2 mins`, `1 hour`, `500 ms` → seconds.
fn seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..split].parse().ok()?;
    let unit = v[split..].trim();
    let mult = match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => return Some(n / 1000),
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Dovecot size: `65536`, `64k`, `64 kB`, `1M` → bytes.
fn bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..split].parse().ok()?;
    let mult = match v[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The uid (and gid) every user in a passwd-file has, if they all agree.
fn common_ids(path: &str) -> Option<(String, Option<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut ids: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let uid = fields.get(2).copied().unwrap_or("").to_string();
        let gid = fields.get(3).copied().unwrap_or("").to_string();
        match &ids {
            None => ids = Some((uid, gid)),
            Some(seen) if *seen == (uid.clone(), gid.clone()) => {}
            Some(_) => return None,
        }
    }
    let (uid, gid) = ids?;
    if uid.is_empty() {
        return None;
    }
    Some((uid, (!gid.is_empty()).then_some(gid)))
}

/// Whether any line of a passwd-file gives a home (field 6); None if unreadable.
fn any_home(path: &str) -> Option<bool> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().any(|l| {
        !l.trim_start().starts_with('#') && l.split(':').nth(5).is_some_and(|h| !h.is_empty())
    }))
}

/// Splits a long comma-separated line into lines of at most `width`.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests;
