//! A reader for the output of `doveconf -n`: `key = value` lines and nested
//! `kind [name] {` … `}` sections, with `#` comment lines. Values and names
//! may be double-quoted (doveconf quotes those with leading spaces or
//! spaces inside a section name).
//!
//! Every setting remembers whether the translation used it, so whatever is
//! left over can be listed as not carried over.

use std::cell::Cell;

/// One `key = value` line.
#[derive(Debug)]
pub struct Setting {
    pub key: String,
    pub value: String,
    used: Cell<bool>,
}

/// A section; the whole file is the root section (kind and name empty).
#[derive(Debug, Default)]
pub struct Section {
    pub kind: String,
    pub name: String,
    pub settings: Vec<Setting>,
    pub sections: Vec<Section>,
    used: Cell<bool>,
}

/// The parsed file and its comment header (doveconf's version line).
#[derive(Debug)]
pub struct DoveConf {
    pub root: Section,
    pub header: Vec<String>,
}

impl Section {
    /// The value of `key` (the last one if repeated), marking it used.
    pub fn get(&self, key: &str) -> Option<&str> {
        let s = self.settings.iter().rev().find(|s| s.key == key)?;
        s.used.set(true);
        Some(&s.value)
    }

    /// Sections of this kind, in file order.
    pub fn sections_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    /// The section of this kind and name, if any.
    pub fn section(&self, kind: &str, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.kind == kind && s.name == name)
    }

    /// Marks the section (and everything in it) as dealt with.
    pub fn mark_used(&self) {
        self.used.set(true);
        for s in &self.settings {
            s.used.set(true);
        }
        for s in &self.sections {
            s.mark_used();
        }
    }

    /// A label such as `service imap-login` or `passdb`.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            self.kind.clone()
        } else if self.name.contains(' ') {
            format!("{} \"{}\"", self.kind, self.name)
        } else {
            format!("{} {}", self.kind, self.name)
        }
    }

    /// Settings nobody used, as (section path, setting), depth first.
    pub fn unused(&self) -> Vec<(String, &Setting)> {
        let mut out = Vec::new();
        self.collect_unused("", &mut out);
        out
    }

    fn collect_unused<'a>(&'a self, path: &str, out: &mut Vec<(String, &'a Setting)>) {
        for s in &self.settings {
            if !s.used.get() {
                out.push((path.to_string(), s));
            }
        }
        for sec in &self.sections {
            let p = if path.is_empty() {
                sec.label()
            } else {
                format!("{path} / {}", sec.label())
            };
            sec.collect_unused(&p, out);
        }
    }

    /// Sections that have nothing in them at all and were never used.
    pub fn unused_empty_sections(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sec in &self.sections {
            if !sec.used.get() && sec.settings.is_empty() && sec.sections.is_empty() {
                out.push(sec.label());
            }
            out.extend(sec.unused_empty_sections());
        }
        out
    }
}

/// Removes one pair of surrounding double quotes and `\"`/`\\` escapes.
fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(inner) if s.len() >= 2 => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => s.to_string(),
    }
}

/// Parses doveconf output; an error names the line.
pub fn parse(text: &str) -> Result<DoveConf, String> {
    let mut stack: Vec<Section> = vec![Section::default()];
    let mut header = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if stack.len() == 1 && header.len() < 8 {
                header.push(comment.trim().to_string());
            }
            continue;
        }
        if line == "}" {
            if stack.len() == 1 {
                return Err(format!("line {n}: `}}` without an open section"));
            }
            if let Some(done) = stack.pop() {
                if let Some(parent) = stack.last_mut() {
                    parent.sections.push(done);
                }
            }
            continue;
        }
        let current = stack.len();
        if let Some(head) = line.strip_suffix('{') {
            let head = head.trim();
            let (kind, name) = match head.split_once(char::is_whitespace) {
                Some((k, rest)) => (k.to_string(), unquote(rest)),
                None => (head.to_string(), String::new()),
            };
            if kind.is_empty() || kind.contains('=') {
                return Err(format!("line {n}: cannot read section header {line:?}"));
            }
            stack.push(Section {
                kind,
                name,
                ..Section::default()
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {n}: expected `key = value`, found {line:?}"));
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("line {n}: cannot read setting {line:?}"));
        }
        if let Some(section) = stack.get_mut(current - 1) {
            section.settings.push(Setting {
                key: key.to_string(),
                value: unquote(value),
                used: Cell::new(false),
            });
        }
    }
    if stack.len() != 1 {
        return Err("unexpected end of input: a section is not closed".into());
    }
    let root = stack.pop().unwrap_or_default();
    Ok(DoveConf { root, header })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf
# OS: Linux 6.1 x86_64 Debian 12
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  location = 
  mailbox "Sent Messages" {
    special_use = \Sent
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
  prefix = 
}
protocols = " imap"
ssl_cert = </etc/dovecot/private/dovecot.pem
"#;

    #[test]
    fn sections_values_and_quotes() {
        let conf = parse(SAMPLE).unwrap();
        assert_eq!(
            conf.header[0],
            "2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf"
        );
        let root = &conf.root;
        assert_eq!(root.get("mail_location"), Some("maildir:~/Maildir"));
        assert_eq!(root.get("protocols"), Some(" imap"));
        assert_eq!(
            root.get("ssl_cert"),
            Some("</etc/dovecot/private/dovecot.pem")
        );
        let ns = root.section("namespace", "inbox").unwrap();
        assert_eq!(ns.get("prefix"), Some(""));
        let names: Vec<&str> = ns.sections_of("mailbox").map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Sent Messages", "Trash"]);
        assert_eq!(
            ns.section("mailbox", "Sent Messages")
                .unwrap()
                .get("special_use"),
            Some("\\Sent")
        );
    }

    #[test]
    fn unused_settings_are_listed_with_their_path() {
        let conf = parse(SAMPLE).unwrap();
        conf.root.get("mail_location");
        let ns = conf.root.section("namespace", "inbox").unwrap();
        ns.get("inbox");
        let left: Vec<String> = conf
            .root
            .unused()
            .iter()
            .map(|(p, s)| format!("{p}: {}", s.key))
            .collect();
        assert!(left.contains(&"namespace inbox / mailbox \"Sent Messages\": special_use".into()));
        assert!(left.contains(&": protocols".into()));
        assert!(!left.iter().any(|l| l.ends_with("mail_location")));
        ns.mark_used();
        assert!(!conf
            .root
            .unused()
            .iter()
            .any(|(p, _)| p.starts_with("namespace")));
    }

    #[test]
    fn malformed_input_names_the_line() {
        assert!(parse("a = 1\n}\n").unwrap_err().starts_with("line 2"));
        assert!(parse("a {\nb = 1\n").unwrap_err().contains("not closed"));
        assert!(parse("just words\n").unwrap_err().starts_with("line 1"));
        assert!(parse("= 1\n").unwrap_err().starts_with("line 1"));
    }
}
