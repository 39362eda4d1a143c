//! Dovecot's mail location strings (`mail_location`, a userdb's `mail`,
//! `userdb_mail=`): `[format:]PATH[:OPTION...]` taken apart, and each
//! option sorted by what it means for Roost, which reads a Maildir++ tree
//! with its dovecot-uidlist files inside it. `config` refuses what cannot
//! be honoured; `migrate` explains it to the admin.

/// A location taken apart.
pub(crate) struct Location<'a> {
    /// The format (`maildir`, `mbox`, `sdbox`, ...); `maildir` when the
    /// string names none.
    pub format: &'a str,
    /// The path as written (`~/` and `%` variables unexpanded).
    pub path: &'a str,
    pub options: Vec<Opt<'a>>,
}

/// One option after the path.
pub(crate) enum Opt<'a> {
    /// `UTF-8`: folder names on disk are UTF-8, not modified UTF-7.
    Utf8,
    /// `LAYOUT=maildir++`, Roost's own layout: nothing to do.
    Maildirpp,
    /// `INDEX=` and the like: where Dovecot keeps its index files, which
    /// Roost does not read (the key).
    Index(&'a str),
    /// Anything else (`LAYOUT=fs`, `CONTROL=`, `INBOX=`, ...): the tree is
    /// not where or how Roost would read it. Key, value and the option as
    /// written.
    Reshapes {
        key: String,
        value: &'a str,
        raw: &'a str,
    },
}

/// Takes `value` apart; a format is a leading lower-case word and a colon.
pub(crate) fn split(value: &str) -> Location<'_> {
    let (format, rest) = match value.split_once(':') {
        Some((f, rest)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_lowercase()) => (f, rest),
        _ => ("maildir", value),
    };
    let mut parts = rest.split(':');
    let path = parts.next().unwrap_or_default();
    let options = parts
        .map(|raw| {
            let (key, value) = raw.split_once('=').unwrap_or((raw, ""));
            match key.to_ascii_uppercase().as_str() {
                "UTF-8" => Opt::Utf8,
                "LAYOUT" if value.eq_ignore_ascii_case("maildir++") => Opt::Maildirpp,
                "INDEX" | "INDEXPVT" | "VOLATILEDIR" | "ITERINDEX" => Opt::Index(key),
                upper => Opt::Reshapes {
                    key: upper.to_string(),
                    value,
                    raw,
                },
            }
        })
        .collect();
    Location {
        format,
        path,
        options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_paths_and_options() {
        let l = split("maildir:~/Maildir:INDEX=/idx/%u:LAYOUT=fs:UTF-8");
        assert_eq!((l.format, l.path), ("maildir", "~/Maildir"));
        assert!(matches!(l.options[0], Opt::Index("INDEX")));
        assert!(
            matches!(&l.options[1], Opt::Reshapes { key, value: "fs", raw: "LAYOUT=fs" } if key == "LAYOUT")
        );
        assert!(matches!(l.options[2], Opt::Utf8));
        let l = split("/var/mail/%u");
        assert_eq!(
            (l.format, l.path, l.options.len()),
            ("maildir", "/var/mail/%u", 0)
        );
        assert_eq!(split("mbox:~/mail:INBOX=/var/mail/%u").format, "mbox");
        assert!(matches!(
            split("~/M:layout=Maildir++").options[0],
            Opt::Maildirpp
        ));
    }
}
