//! What Dovecot did for Postfix: its LMTP service, the auth socket Postfix
//! checks SMTP AUTH passwords through (`smtpd_sasl_type = dovecot`), and
//! the delivery settings. Roost listens on the same paths and ports, so
//! Postfix's main.cf and master.cf keep working; the lines that point
//! Postfix at them are printed as a reminder.

use super::Translator;

/// Listeners Dovecot creates for its own processes (relative to
/// base_dir), not for an MTA.
const INTERNAL_AUTH_LISTENERS: &[&str] = &[
    "auth-client",
    "auth-login",
    "auth-master",
    "auth-userdb",
    "auth-token",
    "token-login/tokenlogin",
    "login/login",
];

impl Translator<'_> {
    /// `service lmtp`, `service auth`, `recipient_delimiter`,
    /// `lmtp_save_to_detail_mailbox`.
    pub(super) fn postfix_services(&mut self) {
        let root = self.root();
        // Read only when a path is relative, so an unneeded base_dir is
        // still listed among the ignored keys.
        let absolute = |name: &str| {
            if name.starts_with('/') {
                name.to_string()
            } else {
                let base_dir = root.get("base_dir").unwrap_or("/run/dovecot");
                format!("{}/{name}", base_dir.trim_end_matches('/'))
            }
        };
        let mut owners: Vec<(String, String, String)> = Vec::new();
        let mut lmtp = Vec::new();
        // Dovecot's default protocols include lmtp; an explicit list may not.
        let protocols = self.root().get("protocols");
        let lists_lmtp = protocols.is_some_and(|p| p.split_whitespace().any(|p| p == "lmtp"));
        let runs_lmtp = protocols.is_none() || lists_lmtp;
        let lmtp_service = self.root().section("service", "lmtp").filter(|_| runs_lmtp);
        if let Some(service) = lmtp_service {
            for l in service.sections_of("unix_listener") {
                lmtp.push(format!("unix:{}", absolute(&l.name)));
                owners.push(socket_owner(l));
            }
            for l in service.sections_of("inet_listener") {
                let Some(port) = l.get("port").and_then(|p| p.trim().parse::<u16>().ok()) else {
                    continue;
                };
                let addrs = self.addresses(
                    l.get("address").unwrap_or("127.0.0.1"),
                    &format!("service lmtp inet_listener {} address", l.name),
                );
                for a in addrs {
                    lmtp.push(if a.contains(':') {
                        format!("[{a}]:{port}")
                    } else {
                        format!("{a}:{port}")
                    });
                }
            }
        }
        if lmtp.is_empty() && lists_lmtp {
            // Dovecot's own default socket: its directory goes with Dovecot.
            let path = absolute("lmtp");
            self.note(format!(
                "LMTP on Dovecot's default socket {path}: its directory must exist for Roost \
                 (or give lmtp_listen a path of Roost's and point Postfix there)"
            ));
            lmtp.push(format!("unix:{path}"));
        }
        let mut auth = Vec::new();
        if let Some(service) = self.root().section("service", "auth") {
            for l in service.sections_of("unix_listener") {
                if INTERNAL_AUTH_LISTENERS.contains(&l.name.as_str()) {
                    continue;
                }
                auth.push(format!("unix:{}", absolute(&l.name)));
                owners.push(socket_owner(l));
            }
        }
        if !lmtp.is_empty() {
            self.set("lmtp_listen", lmtp.join(", "), "service lmtp");
        }
        if !auth.is_empty() {
            self.set("auth_listen", auth.join(", "), "service auth unix_listener");
        }
        owners.dedup();
        if let Some((user, group, mode)) = owners.first().cloned() {
            if owners.len() > 1 {
                self.note(format!(
                    "unix_listener owners and modes differ; Roost gives all its sockets one \
                     (user {user:?}, group {group:?}, mode {mode}); check the others"
                ));
            }
            if !user.is_empty() {
                self.set("unix_socket_owner", user, "unix_listener user");
            }
            if !group.is_empty() {
                self.set("unix_socket_group", group, "unix_listener group");
            }
            if !mode.is_empty() {
                self.set("unix_socket_mode", mode, "unix_listener mode");
            }
        }
        if let Some(d) = self.root().get("recipient_delimiter") {
            self.set("recipient_delimiter", d, "recipient_delimiter");
        }
        let detail = self
            .root()
            .section("protocol", "lmtp")
            .and_then(|p| p.get("lmtp_save_to_detail_mailbox"))
            .or_else(|| self.root().get("lmtp_save_to_detail_mailbox"));
        if let Some(v) = detail {
            self.set(
                "lmtp_save_to_detail_mailbox",
                v,
                "lmtp_save_to_detail_mailbox",
            );
        }
        self.postfix_reminder(&lmtp, &auth);
    }

    /// The main.cf lines that match the sockets, as notes: they are what
    /// Postfix already has if it used Dovecot's.
    fn postfix_reminder(&mut self, lmtp: &[String], auth: &[String]) {
        if let Some(path) = auth.first().and_then(|a| a.strip_prefix("unix:")) {
            self.note(format!(
                "Postfix (unchanged if it used Dovecot's socket): smtpd_sasl_type = dovecot, \
                 smtpd_sasl_path = {}",
                postfix_path(path)
            ));
        }
        if let Some(first) = lmtp.first() {
            let target = match first.strip_prefix("unix:") {
                Some(path) => format!("lmtp:unix:{}", postfix_path(path)),
                None => format!("lmtp:inet:{first}"),
            };
            self.note(format!(
                "Postfix (unchanged if it used Dovecot's LMTP): virtual_transport or \
                 mailbox_transport = {target}"
            ));
        }
    }
}

/// A socket path as Postfix's (non-chrooted) smtpd and lmtp name it:
/// relative to its queue directory when it lies inside.
fn postfix_path(path: &str) -> &str {
    path.strip_prefix("/var/spool/postfix/").unwrap_or(path)
}

/// A unix_listener's (user, group, mode), empty where not set.
fn socket_owner(l: &super::doveconf::Section) -> (String, String, String) {
    let get = |k| l.get(k).unwrap_or("").to_string();
    (get("user"), get("group"), get("mode"))
}
