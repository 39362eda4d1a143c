//! LIST and LSUB (RFC 3501 §6.3.8, §6.3.9, with RFC 3348 CHILDREN), and
//! extended LIST (RFC 5258) with the SPECIAL-USE options (RFC 6154) and
//! the STATUS return option (RFC 5819).
//!
//! Which names are looked at: every mailbox and implied parent, or with
//! the SUBSCRIBED selection option the subscribed names (which may not
//! exist), plus their parents when RECURSIVEMATCH asks for them. Each name
//! matching a pattern is listed when it meets the selection criteria, or,
//! under RECURSIVEMATCH, when a descendant meets them that the patterns do
//! not show (§3.5: redundant CHILDINFO is left out, as Dovecot does).
//! Attributes come in Dovecot's order: `\NonExistent`, `\Subscribed`,
//! children, special uses.

use super::common::{normalize_inbox, special_uses, status_response, wildcard_match, wire_text};
use crate::error::{Error, Tagged};
use crate::proto::types::ListExtended;
use crate::session::Session;
use crate::store::names::MailboxName;
use crate::store::special_use::SpecialUse;
use std::collections::BTreeMap;

/// RFC 3501 §6.3.8 LIST and §6.3.9 LSUB, with RFC 3348 CHILDREN attributes.
pub fn list(
    s: &mut Session,
    reference: &[u8],
    pattern: &[u8],
    lsub: bool,
) -> Result<Tagged, Error> {
    let store = s.store()?;
    let ns = store.namespace().clone();
    let sep = ns.separator as u8;
    let cmd = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        // `LIST "" ""`: the hierarchy delimiter and root (RFC 3501 §6.3.8).
        s.out.untagged().raw("LIST (\\Noselect) ");
        s.out.string(&[sep]).sp().string(b"").crlf();
        return Ok(Tagged::ok("List completed."));
    }
    let mut full = reference.to_vec();
    if !full.is_empty() && full.last() == Some(&sep) && pattern.first() == Some(&sep) {
        full.pop();
    }
    full.extend_from_slice(pattern);
    let full = normalize_inbox(&full, sep);
    let entries = store.list()?;
    let uses = special_uses(s)?;
    let wire = |name: &MailboxName| wire_text(s, &ns.to_wire(name));
    let mut lines: Vec<(Vec<u8>, String)> = Vec::new();
    if lsub {
        let subscribed = store.subscriptions()?;
        let mut shown: Vec<MailboxName> = Vec::new();
        for name in &subscribed {
            let wire = wire(name);
            if wildcard_match(&full, &wire, sep) {
                let exists = entries.iter().any(|e| &e.name == name && e.selectable);
                // Dovecot shows special uses in LSUB too. A subscription
                // that outlived its mailbox gets no attributes, as in
                // Dovecot: `\Noselect` is for unsubscribed parents below.
                let attrs: Vec<&str> = if exists {
                    uses.of(name).iter().map(|u| u.as_str()).collect()
                } else {
                    Vec::new()
                };
                lines.push((wire, attrs.join(" ")));
                shown.push(name.clone());
            }
        }
        // RFC 3501 §6.3.9: with "%", an unsubscribed parent of subscribed
        // names is returned with \Noselect.
        if !full.contains(&b'*') {
            for name in &subscribed {
                for parent in name.ancestors() {
                    let wire = wire(&parent);
                    if !shown.contains(&parent) && wildcard_match(&full, &wire, sep) {
                        lines.push((wire, "\\Noselect".to_string()));
                        shown.push(parent);
                    }
                }
            }
        }
    } else {
        for e in &entries {
            let wire = wire(&e.name);
            if !wildcard_match(&full, &wire, sep) {
                continue;
            }
            let mut attrs = Vec::new();
            if !e.selectable {
                attrs.push("\\Noselect");
            }
            attrs.push(if e.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            // RFC 6154 §2: basic LIST may show special uses; Dovecot does.
            if e.selectable {
                attrs.extend(uses.of(&e.name).iter().map(|u| u.as_str()));
            }
            lines.push((wire, attrs.join(" ")));
        }
    }
    for (wire, attrs) in lines {
        s.out.untagged().raw(cmd).raw(" (").raw(&attrs).raw(") ");
        s.out.string(&[sep]).sp().astring(&wire).crlf();
    }
    Ok(Tagged::ok(if lsub {
        "Lsub completed."
    } else {
        "List completed."
    }))
}

/// What the listing knows of one name.
#[derive(Default)]
struct Node {
    /// Has a directory (INBOX always).
    exists: bool,
    has_children: bool,
    subscribed: bool,
    uses: Vec<SpecialUse>,
}

/// One LIST response to send.
struct Listed {
    name: MailboxName,
    attrs: Vec<&'static str>,
    /// The CHILDINFO criteria, when sent.
    childinfo: Option<String>,
    /// Whether a LIST-STATUS response follows.
    status: bool,
}

pub fn list_extended(s: &mut Session, cmd: &ListExtended) -> Result<Tagged, Error> {
    let store = s.store()?;
    let ns = store.namespace().clone();
    let sep = ns.separator as u8;
    let sel = cmd.select;
    let ret = &cmd.ret;
    // RFC 9590: names checked (BAD) and the entries read once for all.
    let metadata = match &ret.metadata {
        Some(m) => Some((
            m,
            super::metadata::entry_names(&m.entries)?,
            crate::store::metadata::Metadata::load(store.root())?,
        )),
        None => None,
    };
    let mut longest: Option<u64> = None;
    let patterns: Vec<Vec<u8>> = cmd
        .patterns
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut full = cmd.reference.clone();
            if full.last() == Some(&sep) && p.first() == Some(&sep) {
                full.pop();
            }
            full.extend_from_slice(p);
            normalize_inbox(&full, sep)
        })
        .collect();
    let uses = special_uses(s)?;
    let subscribed = store.subscriptions()?;
    let mut nodes: BTreeMap<MailboxName, Node> = BTreeMap::new();
    for e in store.list()? {
        nodes.insert(
            e.name.clone(),
            Node {
                exists: e.selectable,
                has_children: e.has_children,
                ..Node::default()
            },
        );
    }
    for name in &subscribed {
        let has_children = nodes.keys().any(|n| n.is_child_of(name));
        nodes
            .entry(name.clone())
            .or_insert_with(|| Node {
                has_children,
                ..Node::default()
            })
            .subscribed = true;
        if sel.recursive_match {
            for parent in name.ancestors() {
                nodes.entry(parent).or_insert_with(|| Node {
                    has_children: true,
                    ..Node::default()
                });
            }
        }
    }
    for (name, node) in nodes.iter_mut() {
        if node.exists {
            node.uses = uses.of(name);
        }
    }
    let in_tree = |n: &Node| n.exists || n.has_children;
    let meets = |n: &Node| {
        (!sel.subscribed || n.subscribed)
            && (!sel.special_use || !n.uses.is_empty())
            && (sel.subscribed || in_tree(n))
    };
    let wire = |s: &Session, name: &MailboxName| wire_text(s, &ns.to_wire(name));
    let matches = |w: &[u8]| patterns.iter().any(|p| wildcard_match(p, w, sep));

    let mut shown: Vec<Listed> = Vec::new();
    for (name, node) in &nodes {
        let w = wire(s, name);
        if !matches(&w) {
            continue;
        }
        let own = meets(node);
        let mut childinfo = false;
        if sel.recursive_match {
            let mut hidden_match = false;
            for (other, n) in nodes.range(name.clone()..) {
                if !other.is_child_of(name) {
                    if other != name {
                        break;
                    }
                    continue;
                }
                if meets(n) {
                    childinfo = true;
                    if !matches(&wire(s, other)) {
                        hidden_match = true;
                    }
                }
            }
            if !own && !hidden_match {
                childinfo = false;
            }
        }
        if !own && !childinfo {
            continue;
        }
        let mut attrs: Vec<&str> = Vec::new();
        if !node.exists {
            attrs.push("\\NonExistent");
        }
        if (ret.subscribed || sel.subscribed) && node.subscribed {
            attrs.push("\\Subscribed");
        }
        if ret.children {
            attrs.push(if node.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
        }
        if ret.special_use || sel.special_use {
            attrs.extend(node.uses.iter().map(|u| u.as_str()));
        }
        // The criteria the children met (§3.5), always quoted.
        let childinfo = childinfo.then(|| {
            let mut criteria = Vec::new();
            if sel.subscribed {
                criteria.push("\"SUBSCRIBED\"");
            }
            if sel.special_use {
                criteria.push("\"SPECIAL-USE\"");
            }
            criteria.join(" ")
        });
        shown.push(Listed {
            name: name.clone(),
            attrs,
            childinfo,
            status: own && node.exists,
        });
    }
    for item in shown {
        let w = wire(s, &item.name);
        s.out
            .untagged()
            .raw("LIST (")
            .raw(&item.attrs.join(" "))
            .raw(") ");
        s.out.string(&[sep]).sp().astring(&w);
        if let Some(criteria) = &item.childinfo {
            s.out.raw(" (CHILDINFO (").raw(criteria).raw("))");
        }
        s.out.crlf();
        if let (true, Some(items)) = (item.status, &ret.status) {
            // RFC 5819 §2: a STATUS that fails is left out, the LIST stays.
            if let Err(e) = status_response(s, &item.name, items) {
                log::debug!(
                    "conn={} user={} LIST-STATUS {}: {e:?}",
                    s.id,
                    s.user_name(),
                    item.name
                );
            }
        }
        if let (true, Some((opts, names, md))) = (item.status, &metadata) {
            let skipped = super::metadata::list_entries(s, md, &item.name, &w, names, opts);
            longest = longest.max(skipped);
        }
    }
    Ok(match longest {
        // RFC 5464 §4.2.1, as GETMETADATA reports it.
        Some(n) => Tagged::with_code(
            crate::proto::encode::Code::MetadataLongEntries(n),
            "List completed.",
        ),
        None => Tagged::ok("List completed."),
    })
}

/// RFC 9051 §6.3.2: the `* LIST` line SELECT/EXAMINE sends under
/// IMAP4rev2, with the attributes a basic LIST gives the mailbox.
pub(super) fn selected_list_line(s: &mut Session, name: &MailboxName) -> Result<(), Error> {
    let store = s.store()?;
    let ns = store.namespace().clone();
    let has_children = store
        .list()?
        .iter()
        .any(|e| &e.name == name && e.has_children);
    let uses = special_uses(s)?;
    let mut attrs = vec![if has_children {
        "\\HasChildren"
    } else {
        "\\HasNoChildren"
    }];
    attrs.extend(uses.of(name).iter().map(|u| u.as_str()));
    let wire = wire_text(s, &ns.to_wire(name));
    s.out
        .untagged()
        .raw("LIST (")
        .raw(&attrs.join(" "))
        .raw(") ");
    s.out
        .string(&[ns.separator as u8])
        .sp()
        .astring(&wire)
        .crlf();
    Ok(())
}
