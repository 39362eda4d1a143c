//! METADATA (RFC 5464): GETMETADATA and SETMETADATA on the server's
//! entries (mailbox `""`) and each mailbox's, kept per user in
//! `roost-metadata` (`store::metadata`). `/private` and `/shared` entries
//! live side by side: Roost has no shared mailboxes, so nobody else could
//! see the shared ones. Shared server entries belong to the administrator
//! and, as in Dovecot, cannot be set by a user.

use super::common::{mailbox_name, not_found};
use crate::error::{Error, Tagged};
use crate::proto::encode::Code;
use crate::proto::types::GetMetadata;
use crate::session::Session;
use crate::store::metadata::{Metadata, Owner};

/// The largest value SETMETADATA takes (`[METADATA MAXSIZE n]`).
pub const MAX_VALUE: usize = 64 * 1024;
/// Entries a user may have in all (`[METADATA TOOMANY]`): the whole file
/// is read for every command, so it stays small.
pub const MAX_ENTRIES: usize = 256;
/// The longest entry name accepted.
const MAX_ENTRY_NAME: usize = 1024;

/// `GETMETADATA [(MAXSIZE n DEPTH d)] mailbox entries`.
pub fn getmetadata(s: &mut Session, get: &GetMetadata) -> Result<Tagged, Error> {
    let mut names = Vec::with_capacity(get.entries.len());
    for raw in &get.entries {
        names.push(entry_name(raw, false)?);
    }
    let owner = owner(s, &get.mailbox)?;
    let md = Metadata::load(s.store()?.root())?;
    let longest = write_entries(s, &md, &owner, &get.mailbox, &names, get.maxsize, get.depth);
    Ok(match longest {
        Some(n) => Tagged::with_code(Code::MetadataLongEntries(n), "Getmetadata completed."),
        None => Tagged::ok("Getmetadata completed."),
    })
}

/// RFC 9590: the METADATA response LIST sends after a mailbox's line;
/// checked names (`entry_names`), the name as it goes on the wire. The
/// size of the longest value left out by MAXSIZE, if any.
pub(super) fn list_entries(
    s: &mut Session,
    md: &Metadata,
    name: &crate::store::names::MailboxName,
    wire_name: &[u8],
    names: &[String],
    opts: &crate::proto::types::ListMetadata,
) -> Option<u64> {
    let owner = Some(name.clone());
    write_entries(s, md, &owner, wire_name, names, opts.maxsize, opts.depth)
}

/// Checks and lower-cases entry names as GETMETADATA takes them.
pub(super) fn entry_names(raw: &[Vec<u8>]) -> Result<Vec<String>, Error> {
    raw.iter().map(|r| entry_name(r, false)).collect()
}

/// Writes `* METADATA mailbox (entry value ...)` for `names` (each one
/// unset as NIL at depth 0, as GETMETADATA does); nothing if no entry is
/// left. Returns the size of the longest value MAXSIZE left out.
fn write_entries(
    s: &mut Session,
    md: &Metadata,
    owner: &Owner,
    wire_name: &[u8],
    names: &[String],
    maxsize: Option<u64>,
    depth: Option<usize>,
) -> Option<u64> {
    let mut found: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut longest: Option<u64> = None;
    let mut keep = |name: &str, value: Option<&[u8]>, found: &mut Vec<_>| {
        if let (Some(max), Some(v)) = (maxsize, value) {
            if v.len() as u64 > max {
                longest = longest.max(Some(v.len() as u64));
                return;
            }
        }
        found.push((name.to_string(), value.map(<[u8]>::to_vec)));
    };
    for name in names {
        let value = md.get(owner, name);
        if depth == Some(0) || value.is_some() {
            keep(name, value, &mut found);
        }
        if depth != Some(0) {
            for (child, v) in md.below(owner, name, depth) {
                keep(child, Some(v), &mut found);
            }
        }
    }
    if !found.is_empty() {
        s.out
            .untagged()
            .raw("METADATA ")
            .astring(wire_name)
            .raw(" (");
        for (i, (name, value)) in found.iter().enumerate() {
            if i > 0 {
                s.out.sp();
            }
            s.out.raw(name).sp();
            // Values always as literals, as Dovecot sends them.
            match value {
                Some(v) => s.out.literal(v),
                None => s.out.raw("NIL"),
            };
        }
        s.out.raw(")").crlf();
    }
    longest
}

/// `SETMETADATA mailbox (entry value ...)`: all or nothing.
pub fn setmetadata(
    s: &mut Session,
    mailbox: &[u8],
    entries: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<Tagged, Error> {
    let mut changes = Vec::with_capacity(entries.len());
    for (raw, value) in entries {
        changes.push((entry_name(raw, true)?, value));
    }
    let owner = owner(s, mailbox)?;
    if owner.is_none() && changes.iter().any(|(n, _)| n.starts_with("/shared")) {
        return Err(Error::no(
            Some(Code::Cannot),
            "Shared server entries are the administrator's.",
        ));
    }
    if let Some(v) = changes
        .iter()
        .filter_map(|(_, v)| v.as_ref())
        .find(|v| v.len() > MAX_VALUE)
    {
        return Err(Error::no(
            Some(Code::MetadataMaxSize(MAX_VALUE as u64)),
            format!("Value of {} bytes is too long.", v.len()),
        ));
    }
    let root = s.store()?.root().to_path_buf();
    Metadata::update(&root, |md| {
        let mut changed = false;
        for (name, value) in &changes {
            changed |= md.set(&owner, name, (*value).clone());
        }
        if md.len() > MAX_ENTRIES {
            return Err(Error::no(
                Some(Code::MetadataTooMany),
                "Too many metadata entries.",
            ));
        }
        Ok(changed)
    })?;
    Ok(Tagged::ok("Setmetadata completed."))
}

/// `""` is the server; anything else must be an existing mailbox.
fn owner(s: &Session, raw: &[u8]) -> Result<Owner, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let name = mailbox_name(s, raw)?;
    if !s.store()?.exists(&name) {
        return Err(not_found(raw));
    }
    Ok(Some(name))
}

/// Checks an entry name (RFC 5464 §3.2) and lower-cases it: entry names
/// are case-insensitive. SETMETADATA needs a name below `/private` or
/// `/shared`, not the top itself.
fn entry_name(raw: &[u8], for_set: bool) -> Result<String, Error> {
    let bad = |why: &str| Err(Error::bad(format!("Invalid entry name: {why}")));
    if raw.len() > MAX_ENTRY_NAME {
        return bad("too long");
    }
    if raw.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
        return bad("only printable ASCII is allowed");
    }
    if raw.iter().any(|&b| b == b'*' || b == b'%') {
        return bad("it can't contain '*' or '%'");
    }
    if raw.windows(2).any(|w| w == b"//") {
        return bad("it can't contain consecutive '/'");
    }
    if raw.ends_with(b"/") {
        return bad("it can't end with '/'");
    }
    let name = String::from_utf8_lossy(raw).to_ascii_lowercase();
    let rest = name
        .strip_prefix("/private")
        .or_else(|| name.strip_prefix("/shared"));
    match rest {
        Some(r) if r.starts_with('/') => Ok(name),
        Some("") if !for_set => Ok(name),
        Some("") => bad("it must name an entry below /private or /shared"),
        _ => bad("it must begin with /private or /shared"),
    }
}
