//! From the generic tree to a checked, typed script: each command and test
//! with its arguments, refused with the line when a name is unknown, an
//! extension was not required or an argument is wrong (what Pigeonhole
//! refuses when a script is uploaded).

use std::collections::{BTreeSet, HashMap};

use super::grammar::{self, Arg, Node};
use super::lexer;
use super::matcher::{Comparator, MatchKind, Matcher, Rel};
use super::vars::{self, Modifier};
use super::{ScriptError, EXTENSIONS};

/// Scripts larger than this are refused (Pigeonhole's default
/// `sieve_max_script_size`).
pub(crate) const MAX_SCRIPT_SIZE: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct Script {
    pub(crate) body: Vec<Cmd>,
    pub(crate) requires: BTreeSet<String>,
}

impl Script {
    pub(crate) fn compile(source: &str) -> Result<Script, ScriptError> {
        if source.len() > MAX_SCRIPT_SIZE {
            return Err(ScriptError::new(0, "script is too large"));
        }
        let tree = grammar::parse(&lexer::tokenize(source)?)?;
        let mut c = Compiler {
            requires: BTreeSet::new(),
            seen_other: false,
        };
        let body = c.block(&tree, 0)?;
        Ok(Script {
            body,
            requires: c.requires,
        })
    }

    pub(crate) fn uses_variables(&self) -> bool {
        self.requires.contains("variables")
    }
}

#[derive(Debug)]
pub(crate) enum Cmd {
    If(Vec<(Test, Vec<Cmd>)>, Option<Vec<Cmd>>),
    Stop,
    Keep {
        flags: Option<Vec<String>>,
    },
    FileInto {
        mailbox: String,
        copy: bool,
        create: bool,
        flags: Option<Vec<String>>,
    },
    Redirect {
        address: String,
        copy: bool,
    },
    Discard,
    Reject {
        reason: String,
        extended: bool,
    },
    Vacation(Box<VacationArgs>),
    Flag {
        op: FlagOp,
        var: Option<String>,
        flags: Vec<String>,
    },
    Set {
        name: String,
        value: String,
        mods: Vec<Modifier>,
    },
    Include {
        name: String,
        global: bool,
        once: bool,
        optional: bool,
    },
    Return,
    Global(Vec<String>),
    AddHeader {
        last: bool,
        name: String,
        value: String,
    },
    DeleteHeader {
        index: Option<(u64, bool)>,
        matcher: Matcher,
        name: String,
        patterns: Option<Vec<String>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Default)]
pub(crate) struct VacationArgs {
    /// The period in seconds (`:days` × 86,400 or `:seconds`).
    pub period: Option<u64>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    pub mime: bool,
    pub handle: Option<String>,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrPart {
    All,
    Localpart,
    Domain,
    User,
    Detail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyTransform {
    Raw,
    Text,
    Content(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Zone {
    Original,
    /// `+hhmm`/`-hhmm` as minutes east of UTC; `None`: the server's zone.
    Fixed(Option<i64>),
}

#[derive(Debug)]
pub(crate) enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Exists(Vec<String>),
    Size {
        over: bool,
        limit: u64,
    },
    Header {
        m: Matcher,
        index: Option<(u64, bool)>,
        names: Vec<String>,
        keys: Vec<String>,
    },
    Address {
        m: Matcher,
        part: AddrPart,
        index: Option<(u64, bool)>,
        names: Vec<String>,
        keys: Vec<String>,
    },
    Envelope {
        m: Matcher,
        part: AddrPart,
        names: Vec<String>,
        keys: Vec<String>,
    },
    Body {
        m: Matcher,
        transform: BodyTransform,
        keys: Vec<String>,
    },
    Str {
        m: Matcher,
        sources: Vec<String>,
        keys: Vec<String>,
    },
    HasFlag {
        m: Matcher,
        vars: Option<Vec<String>>,
        flags: Vec<String>,
    },
    MailboxExists(Vec<String>),
    Date {
        m: Matcher,
        zone: Zone,
        index: Option<(u64, bool)>,
        header: String,
        part: String,
        keys: Vec<String>,
    },
    CurrentDate {
        m: Matcher,
        zone: Zone,
        part: String,
        keys: Vec<String>,
    },
    Duplicate {
        handle: Option<String>,
        /// `:header` name or `:uniqueid` value; Message-ID by default.
        header: Option<String>,
        uniqueid: Option<String>,
        seconds: u64,
        last: bool,
    },
    Spam {
        virus: bool,
        percent: bool,
        m: Matcher,
        value: String,
    },
}

/// What follows a tag: nothing, or one argument of a kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TagArg {
    Flag,
    Str,
    List,
    Num,
}

/// The tags a command takes, each with the extension it needs (`""`:
/// none) and what follows it.
type Spec = &'static [(&'static str, &'static str, TagArg)];

const MATCH_TAGS: Spec = &[
    ("is", "", TagArg::Flag),
    ("contains", "", TagArg::Flag),
    ("matches", "", TagArg::Flag),
    ("regex", "regex", TagArg::Flag),
    ("count", "relational", TagArg::Str),
    ("value", "relational", TagArg::Str),
    ("comparator", "", TagArg::Str),
];
const ADDR_TAGS: Spec = &[
    ("all", "", TagArg::Flag),
    ("localpart", "", TagArg::Flag),
    ("domain", "", TagArg::Flag),
    ("user", "subaddress", TagArg::Flag),
    ("detail", "subaddress", TagArg::Flag),
];
const INDEX_TAGS: Spec = &[
    ("index", "index", TagArg::Num),
    ("last", "index", TagArg::Flag),
];

/// A command's arguments sorted out: tags by name, positionals in order.
struct Args {
    line: u32,
    tags: HashMap<&'static str, Arg>,
    pos: Vec<(Arg, u32)>,
}

impl Args {
    fn has(&self, tag: &str) -> bool {
        self.tags.contains_key(tag)
    }

    fn tag_str(&self, tag: &str) -> Option<String> {
        match self.tags.get(tag) {
            Some(Arg::Strings { list, .. }) => list.first().cloned(),
            _ => None,
        }
    }

    fn tag_list(&self, tag: &str) -> Option<Vec<String>> {
        match self.tags.get(tag) {
            Some(Arg::Strings { list, .. }) => Some(list.clone()),
            _ => None,
        }
    }

    fn tag_num(&self, tag: &str) -> Option<u64> {
        match self.tags.get(tag) {
            Some(Arg::Number(n)) => Some(*n),
            _ => None,
        }
    }

    fn count(&self, n: usize, what: &str) -> Result<(), ScriptError> {
        if self.pos.len() == n {
            Ok(())
        } else {
            Err(ScriptError::new(
                self.line,
                format!(
                    "'{what}' takes {n} positional argument{}, {} given",
                    if n == 1 { "" } else { "s" },
                    self.pos.len()
                ),
            ))
        }
    }

    fn list(&self, i: usize, what: &str) -> Result<Vec<String>, ScriptError> {
        match self.pos.get(i) {
            Some((Arg::Strings { list, .. }, _)) => Ok(list.clone()),
            Some((_, line)) => Err(ScriptError::new(
                *line,
                format!("'{what}' expects a string list"),
            )),
            None => Err(ScriptError::new(
                self.line,
                format!("'{what}' is missing an argument"),
            )),
        }
    }

    fn string(&self, i: usize, what: &str) -> Result<String, ScriptError> {
        match self.pos.get(i) {
            Some((Arg::Strings { list, bracketed }, line)) => {
                if *bracketed && list.len() != 1 {
                    return Err(ScriptError::new(
                        *line,
                        format!("'{what}' expects a single string"),
                    ));
                }
                Ok(list.first().cloned().unwrap_or_default())
            }
            Some((_, line)) => Err(ScriptError::new(
                *line,
                format!("'{what}' expects a string"),
            )),
            None => Err(ScriptError::new(
                self.line,
                format!("'{what}' is missing an argument"),
            )),
        }
    }

    fn number(&self, i: usize, what: &str) -> Result<u64, ScriptError> {
        match self.pos.get(i) {
            Some((Arg::Number(n), _)) => Ok(*n),
            Some((_, line)) => Err(ScriptError::new(
                *line,
                format!("'{what}' expects a number"),
            )),
            None => Err(ScriptError::new(
                self.line,
                format!("'{what}' is missing a number"),
            )),
        }
    }
}

struct Compiler {
    requires: BTreeSet<String>,
    /// Set once a command other than `require` was seen: `require` must
    /// come first (RFC 5228 §3.2).
    seen_other: bool,
}

impl Compiler {
    fn need(&self, ext: &str, line: u32, what: &str) -> Result<(), ScriptError> {
        if ext.is_empty() || self.requires.contains(ext) {
            Ok(())
        } else {
            Err(ScriptError::new(
                line,
                format!("{what} requires the \"{ext}\" extension (missing require)"),
            ))
        }
    }

    fn no_tests(&self, n: &Node) -> Result<(), ScriptError> {
        if n.tests.is_empty() {
            Ok(())
        } else {
            Err(ScriptError::new(
                n.line,
                format!("'{}' takes no tests", n.name),
            ))
        }
    }

    fn no_block(&self, n: &Node) -> Result<(), ScriptError> {
        if n.block.is_none() {
            Ok(())
        } else {
            Err(ScriptError::new(
                n.line,
                format!("'{}' takes no block", n.name),
            ))
        }
    }

    /// Splits `n`'s arguments by the tag specs given; unknown tags and
    /// tags after positionals are errors.
    fn args(&self, n: &Node, specs: &[Spec]) -> Result<Args, ScriptError> {
        let mut out = Args {
            line: n.line,
            tags: HashMap::new(),
            pos: Vec::new(),
        };
        let mut it = n.args.iter().peekable();
        while let Some((arg, line)) = it.next() {
            let Arg::Tag(tag) = arg else {
                out.pos.push((arg.clone(), *line));
                continue;
            };
            if !out.pos.is_empty() {
                return Err(ScriptError::new(
                    *line,
                    format!("tag ':{tag}' after positional arguments"),
                ));
            }
            let Some(&(name, ext, kind)) = specs.iter().flat_map(|s| s.iter()).find(|s| s.0 == tag)
            else {
                return Err(ScriptError::new(
                    *line,
                    format!("unknown tag ':{tag}' for '{}'", n.name),
                ));
            };
            self.need(ext, *line, &format!("tag ':{tag}'"))?;
            let value = match kind {
                TagArg::Flag => Arg::Tag(tag.clone()),
                TagArg::Num => match it.next() {
                    Some((a @ Arg::Number(_), _)) => a.clone(),
                    _ => {
                        return Err(ScriptError::new(
                            *line,
                            format!("':{tag}' expects a number"),
                        ))
                    }
                },
                TagArg::Str | TagArg::List => match it.next() {
                    Some((a @ Arg::Strings { list, bracketed }, _)) => {
                        if kind == TagArg::Str && *bracketed && list.len() != 1 {
                            return Err(ScriptError::new(
                                *line,
                                format!("':{tag}' expects a single string"),
                            ));
                        }
                        a.clone()
                    }
                    _ => {
                        return Err(ScriptError::new(
                            *line,
                            format!("':{tag}' expects a string"),
                        ))
                    }
                },
            };
            if out.tags.insert(name, value).is_some() {
                return Err(ScriptError::new(*line, format!("tag ':{tag}' given twice")));
            }
        }
        Ok(out)
    }

    /// The comparator and match type from the tags, checked together.
    fn matcher(&self, a: &Args) -> Result<Matcher, ScriptError> {
        let kinds: Vec<&str> = ["is", "contains", "matches", "regex", "count", "value"]
            .into_iter()
            .filter(|k| a.has(k))
            .collect();
        if kinds.len() > 1 {
            return Err(ScriptError::new(a.line, "only one match type may be given"));
        }
        let rel = |tag: &str| -> Result<Rel, ScriptError> {
            let s = a.tag_str(tag).unwrap_or_default();
            Rel::parse(&s)
                .ok_or_else(|| ScriptError::new(a.line, format!("unknown relation \"{s}\"")))
        };
        let kind = match kinds.first().copied() {
            None | Some("is") => MatchKind::Is,
            Some("contains") => MatchKind::Contains,
            Some("matches") => MatchKind::Matches,
            Some("regex") => MatchKind::Regex,
            Some("count") => MatchKind::Count(rel("count")?),
            _ => MatchKind::Value(rel("value")?),
        };
        let cmp = match a.tag_str("comparator") {
            None => Comparator::AsciiCasemap,
            Some(name) => {
                let c = Comparator::by_name(&name).ok_or_else(|| {
                    ScriptError::new(a.line, format!("unknown comparator \"{name}\""))
                })?;
                if c == Comparator::AsciiNumeric {
                    self.need(
                        "comparator-i;ascii-numeric",
                        a.line,
                        "comparator \"i;ascii-numeric\"",
                    )?;
                }
                c
            }
        };
        if cmp == Comparator::AsciiNumeric
            && matches!(
                kind,
                MatchKind::Contains | MatchKind::Matches | MatchKind::Regex
            )
        {
            return Err(ScriptError::new(
                a.line,
                "the i;ascii-numeric comparator only supports :is, :value and :count",
            ));
        }
        Ok(Matcher { cmp, kind })
    }

    fn addr_part(&self, a: &Args) -> Result<AddrPart, ScriptError> {
        let parts: Vec<AddrPart> = [
            ("all", AddrPart::All),
            ("localpart", AddrPart::Localpart),
            ("domain", AddrPart::Domain),
            ("user", AddrPart::User),
            ("detail", AddrPart::Detail),
        ]
        .into_iter()
        .filter(|(t, _)| a.has(t))
        .map(|(_, p)| p)
        .collect();
        match parts.as_slice() {
            [] => Ok(AddrPart::All),
            [p] => Ok(*p),
            _ => Err(ScriptError::new(
                a.line,
                "only one address part may be given",
            )),
        }
    }

    fn index(&self, a: &Args) -> Result<Option<(u64, bool)>, ScriptError> {
        match a.tag_num("index") {
            Some(0) => Err(ScriptError::new(a.line, ":index must be at least 1")),
            Some(i) => Ok(Some((i, a.has("last")))),
            None if a.has("last") => Err(ScriptError::new(a.line, ":last needs :index")),
            None => Ok(None),
        }
    }

    fn zone(&self, a: &Args) -> Result<Zone, ScriptError> {
        if a.has("originalzone") {
            if a.has("zone") {
                return Err(ScriptError::new(
                    a.line,
                    ":zone and :originalzone exclude each other",
                ));
            }
            return Ok(Zone::Original);
        }
        match a.tag_str("zone") {
            None => Ok(Zone::Fixed(None)),
            Some(z) => parse_zone(&z)
                .map(|m| Zone::Fixed(Some(m)))
                .ok_or_else(|| ScriptError::new(a.line, format!("invalid zone \"{z}\""))),
        }
    }

    fn block(&mut self, nodes: &[Node], depth: usize) -> Result<Vec<Cmd>, ScriptError> {
        let mut out: Vec<Cmd> = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            let n = &nodes[i];
            i += 1;
            match n.name.as_str() {
                "require" => {
                    if depth > 0 || self.seen_other {
                        return Err(ScriptError::new(
                            n.line,
                            "require must come at the top of the script, before other commands",
                        ));
                    }
                    self.no_tests(n)?;
                    self.no_block(n)?;
                    let a = self.args(n, &[])?;
                    a.count(1, "require")?;
                    for ext in a.list(0, "require")? {
                        if !EXTENSIONS.contains(&ext.as_str()) {
                            return Err(ScriptError::new(
                                n.line,
                                format!("unknown extension \"{ext}\""),
                            ));
                        }
                        // RFC 6131 §2: vacation-seconds brings vacation.
                        if ext == "vacation-seconds" {
                            self.requires.insert("vacation".into());
                        }
                        self.requires.insert(ext);
                    }
                    continue;
                }
                "if" => {
                    self.seen_other = true;
                    let mut branches = vec![self.branch(n, depth)?];
                    let mut otherwise = None;
                    while let Some(next) = nodes.get(i) {
                        match next.name.as_str() {
                            "elsif" => branches.push(self.branch(next, depth)?),
                            "else" => {
                                let a = self.args(next, &[])?;
                                a.count(0, "else")?;
                                self.no_tests(next)?;
                                let body = next.block.as_ref().ok_or_else(|| {
                                    ScriptError::new(next.line, "'else' needs a block")
                                })?;
                                otherwise = Some(self.block(body, depth + 1)?);
                                i += 1;
                                break;
                            }
                            _ => break,
                        }
                        i += 1;
                    }
                    out.push(Cmd::If(branches, otherwise));
                }
                "elsif" | "else" => {
                    return Err(ScriptError::new(
                        n.line,
                        format!("'{}' without a preceding 'if'", n.name),
                    ))
                }
                _ => {
                    self.seen_other = true;
                    self.no_block(n)?;
                    self.no_tests(n)?;
                    out.push(self.command(n)?);
                }
            }
        }
        Ok(out)
    }

    fn branch(&mut self, n: &Node, depth: usize) -> Result<(Test, Vec<Cmd>), ScriptError> {
        let a = self.args(n, &[])?;
        a.count(0, &n.name)?;
        if n.tests.len() != 1 {
            return Err(ScriptError::new(
                n.line,
                format!("'{}' needs exactly one test", n.name),
            ));
        }
        let test = self.test(&n.tests[0])?;
        let body = n
            .block
            .as_ref()
            .ok_or_else(|| ScriptError::new(n.line, format!("'{}' needs a block", n.name)))?;
        Ok((test, self.block(body, depth + 1)?))
    }

    fn flags_tag(&self, a: &Args) -> Option<Vec<String>> {
        a.tag_list("flags")
    }

    fn command(&mut self, n: &Node) -> Result<Cmd, ScriptError> {
        const FLAGS: Spec = &[("flags", "imap4flags", TagArg::List)];
        const COPY: Spec = &[("copy", "copy", TagArg::Flag)];
        const CREATE: Spec = &[("create", "mailbox", TagArg::Flag)];
        let line = n.line;
        Ok(match n.name.as_str() {
            "stop" => {
                self.args(n, &[])?.count(0, "stop")?;
                Cmd::Stop
            }
            "keep" => {
                let a = self.args(n, &[FLAGS])?;
                a.count(0, "keep")?;
                Cmd::Keep {
                    flags: self.flags_tag(&a),
                }
            }
            "discard" => {
                self.args(n, &[])?.count(0, "discard")?;
                Cmd::Discard
            }
            "fileinto" => {
                self.need("fileinto", line, "command 'fileinto'")?;
                let a = self.args(n, &[FLAGS, COPY, CREATE])?;
                a.count(1, "fileinto")?;
                Cmd::FileInto {
                    mailbox: a.string(0, "fileinto")?,
                    copy: a.has("copy"),
                    create: a.has("create"),
                    flags: self.flags_tag(&a),
                }
            }
            "redirect" => {
                let a = self.args(n, &[COPY])?;
                a.count(1, "redirect")?;
                let address = a.string(0, "redirect")?;
                if !address.contains("${") && !plausible_address(&address) {
                    return Err(ScriptError::new(
                        line,
                        format!("redirect: invalid address \"{address}\""),
                    ));
                }
                Cmd::Redirect {
                    address,
                    copy: a.has("copy"),
                }
            }
            name @ ("reject" | "ereject") => {
                self.need(name, line, &format!("command '{name}'"))?;
                let a = self.args(n, &[])?;
                a.count(1, name)?;
                Cmd::Reject {
                    reason: a.string(0, name)?,
                    extended: name == "ereject",
                }
            }
            "vacation" => {
                self.need("vacation", line, "command 'vacation'")?;
                const V: Spec = &[
                    ("days", "", TagArg::Num),
                    ("seconds", "vacation-seconds", TagArg::Num),
                    ("subject", "", TagArg::Str),
                    ("from", "", TagArg::Str),
                    ("addresses", "", TagArg::List),
                    ("mime", "", TagArg::Flag),
                    ("handle", "", TagArg::Str),
                ];
                let a = self.args(n, &[V])?;
                a.count(1, "vacation")?;
                if a.has("days") && a.has("seconds") {
                    return Err(ScriptError::new(
                        line,
                        ":days and :seconds exclude each other",
                    ));
                }
                let period = a
                    .tag_num("days")
                    .map(|d| d.saturating_mul(86_400))
                    .or_else(|| a.tag_num("seconds"));
                Cmd::Vacation(Box::new(VacationArgs {
                    period,
                    subject: a.tag_str("subject"),
                    from: a.tag_str("from"),
                    addresses: a.tag_list("addresses").unwrap_or_default(),
                    mime: a.has("mime"),
                    handle: a.tag_str("handle"),
                    reason: a.string(0, "vacation")?,
                }))
            }
            name @ ("setflag" | "addflag" | "removeflag") => {
                self.need("imap4flags", line, &format!("command '{name}'"))?;
                let a = self.args(n, &[])?;
                let op = match name {
                    "setflag" => FlagOp::Set,
                    "addflag" => FlagOp::Add,
                    _ => FlagOp::Remove,
                };
                let (var, flags) = match a.pos.len() {
                    1 => (None, a.list(0, name)?),
                    2 => {
                        self.need("variables", line, "a flag variable")?;
                        (Some(a.string(0, name)?), a.list(1, name)?)
                    }
                    _ => {
                        return Err(ScriptError::new(
                            line,
                            format!("'{name}' takes one or two arguments"),
                        ))
                    }
                };
                if let Some(v) = &var {
                    vars::check_name(v).map_err(|e| ScriptError::new(line, e))?;
                }
                Cmd::Flag { op, var, flags }
            }
            "set" => {
                self.need("variables", line, "command 'set'")?;
                const M: Spec = &[
                    ("lower", "", TagArg::Flag),
                    ("upper", "", TagArg::Flag),
                    ("lowerfirst", "", TagArg::Flag),
                    ("upperfirst", "", TagArg::Flag),
                    ("quotewildcard", "", TagArg::Flag),
                    ("quoteregex", "regex", TagArg::Flag),
                    ("length", "", TagArg::Flag),
                    ("encodeurl", "", TagArg::Flag),
                ];
                let a = self.args(n, &[M])?;
                a.count(2, "set")?;
                let name = a.string(0, "set")?;
                vars::check_name(&name).map_err(|e| ScriptError::new(line, e))?;
                let mods = vars::modifiers(a.tags.keys().copied())
                    .map_err(|e| ScriptError::new(line, e))?;
                Cmd::Set {
                    name: name.to_ascii_lowercase(),
                    value: a.string(1, "set")?,
                    mods,
                }
            }
            "include" => {
                self.need("include", line, "command 'include'")?;
                const I: Spec = &[
                    ("personal", "", TagArg::Flag),
                    ("global", "", TagArg::Flag),
                    ("once", "", TagArg::Flag),
                    ("optional", "", TagArg::Flag),
                ];
                let a = self.args(n, &[I])?;
                a.count(1, "include")?;
                if a.has("personal") && a.has("global") {
                    return Err(ScriptError::new(
                        line,
                        ":personal and :global exclude each other",
                    ));
                }
                let name = a.string(0, "include")?;
                if name.is_empty() || name.contains('/') || name.starts_with('.') {
                    return Err(ScriptError::new(
                        line,
                        format!("include: invalid script name \"{name}\""),
                    ));
                }
                Cmd::Include {
                    name,
                    global: a.has("global"),
                    once: a.has("once"),
                    optional: a.has("optional"),
                }
            }
            "return" => {
                self.need("include", line, "command 'return'")?;
                self.args(n, &[])?.count(0, "return")?;
                Cmd::Return
            }
            "global" => {
                self.need("include", line, "command 'global'")?;
                self.need("variables", line, "command 'global'")?;
                let a = self.args(n, &[])?;
                a.count(1, "global")?;
                let names = a.list(0, "global")?;
                for v in &names {
                    vars::check_name(v).map_err(|e| ScriptError::new(line, e))?;
                }
                Cmd::Global(names.iter().map(|v| v.to_ascii_lowercase()).collect())
            }
            "addheader" => {
                self.need("editheader", line, "command 'addheader'")?;
                let a = self.args(n, &[&[("last", "", TagArg::Flag)]])?;
                a.count(2, "addheader")?;
                let name = a.string(0, "addheader")?;
                if !name.contains("${") && !valid_field_name(&name) {
                    return Err(ScriptError::new(
                        line,
                        format!("addheader: invalid field name \"{name}\""),
                    ));
                }
                Cmd::AddHeader {
                    last: a.has("last"),
                    name,
                    value: a.string(1, "addheader")?,
                }
            }
            "deleteheader" => {
                self.need("editheader", line, "command 'deleteheader'")?;
                let a = self.args(
                    n,
                    &[
                        MATCH_TAGS,
                        &[("index", "", TagArg::Num), ("last", "", TagArg::Flag)],
                    ],
                )?;
                let (name, patterns) = match a.pos.len() {
                    1 => (a.string(0, "deleteheader")?, None),
                    2 => (
                        a.string(0, "deleteheader")?,
                        Some(a.list(1, "deleteheader")?),
                    ),
                    _ => {
                        return Err(ScriptError::new(
                            line,
                            "'deleteheader' takes one or two arguments",
                        ))
                    }
                };
                Cmd::DeleteHeader {
                    index: self.index(&a)?,
                    matcher: self.matcher(&a)?,
                    name,
                    patterns,
                }
            }
            other => return Err(ScriptError::new(line, format!("unknown command '{other}'"))),
        })
    }

    fn test(&mut self, n: &Node) -> Result<Test, ScriptError> {
        let line = n.line;
        if !matches!(n.name.as_str(), "not" | "allof" | "anyof") {
            self.no_tests(n)?;
        }
        Ok(match n.name.as_str() {
            "true" => {
                self.args(n, &[])?.count(0, "true")?;
                Test::True
            }
            "false" => {
                self.args(n, &[])?.count(0, "false")?;
                Test::False
            }
            "not" => {
                self.args(n, &[])?.count(0, "not")?;
                if n.tests.len() != 1 {
                    return Err(ScriptError::new(line, "'not' takes exactly one test"));
                }
                Test::Not(Box::new(self.test(&n.tests[0])?))
            }
            name @ ("allof" | "anyof") => {
                self.args(n, &[])?.count(0, name)?;
                if n.tests.is_empty() {
                    return Err(ScriptError::new(
                        line,
                        format!("'{name}' needs a test list"),
                    ));
                }
                let tests = n
                    .tests
                    .iter()
                    .map(|t| self.test(t))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "allof" {
                    Test::AllOf(tests)
                } else {
                    Test::AnyOf(tests)
                }
            }
            "exists" => {
                let a = self.args(n, &[])?;
                a.count(1, "exists")?;
                Test::Exists(a.list(0, "exists")?)
            }
            "size" => {
                let a = self.args(
                    n,
                    &[&[("over", "", TagArg::Flag), ("under", "", TagArg::Flag)]],
                )?;
                a.count(1, "size")?;
                if a.has("over") == a.has("under") {
                    return Err(ScriptError::new(
                        line,
                        "'size' needs exactly one of :over and :under",
                    ));
                }
                Test::Size {
                    over: a.has("over"),
                    limit: a.number(0, "size")?,
                }
            }
            "header" => {
                let a = self.args(n, &[MATCH_TAGS, INDEX_TAGS])?;
                a.count(2, "header")?;
                Test::Header {
                    m: self.matcher(&a)?,
                    index: self.index(&a)?,
                    names: a.list(0, "header")?,
                    keys: a.list(1, "header")?,
                }
            }
            "address" => {
                let a = self.args(n, &[MATCH_TAGS, ADDR_TAGS, INDEX_TAGS])?;
                a.count(2, "address")?;
                Test::Address {
                    m: self.matcher(&a)?,
                    part: self.addr_part(&a)?,
                    index: self.index(&a)?,
                    names: a.list(0, "address")?,
                    keys: a.list(1, "address")?,
                }
            }
            "envelope" => {
                self.need("envelope", line, "test 'envelope'")?;
                let a = self.args(n, &[MATCH_TAGS, ADDR_TAGS])?;
                a.count(2, "envelope")?;
                let names = a.list(0, "envelope")?;
                for part in &names {
                    if !["from", "to", "auth"].contains(&part.to_ascii_lowercase().as_str()) {
                        return Err(ScriptError::new(
                            line,
                            format!("envelope: unknown part \"{part}\""),
                        ));
                    }
                }
                Test::Envelope {
                    m: self.matcher(&a)?,
                    part: self.addr_part(&a)?,
                    names,
                    keys: a.list(1, "envelope")?,
                }
            }
            "body" => {
                self.need("body", line, "test 'body'")?;
                const B: Spec = &[
                    ("raw", "", TagArg::Flag),
                    ("text", "", TagArg::Flag),
                    ("content", "", TagArg::List),
                ];
                let a = self.args(n, &[MATCH_TAGS, B])?;
                a.count(1, "body")?;
                let n_transforms = ["raw", "text", "content"]
                    .iter()
                    .filter(|t| a.has(t))
                    .count();
                if n_transforms > 1 {
                    return Err(ScriptError::new(
                        line,
                        "only one body transform may be given",
                    ));
                }
                let transform = if a.has("raw") {
                    BodyTransform::Raw
                } else if let Some(types) = a.tag_list("content") {
                    BodyTransform::Content(types)
                } else {
                    BodyTransform::Text
                };
                Test::Body {
                    m: self.matcher(&a)?,
                    transform,
                    keys: a.list(0, "body")?,
                }
            }
            "string" => {
                self.need("variables", line, "test 'string'")?;
                let a = self.args(n, &[MATCH_TAGS])?;
                a.count(2, "string")?;
                Test::Str {
                    m: self.matcher(&a)?,
                    sources: a.list(0, "string")?,
                    keys: a.list(1, "string")?,
                }
            }
            "hasflag" => {
                self.need("imap4flags", line, "test 'hasflag'")?;
                let a = self.args(n, &[MATCH_TAGS])?;
                let (vars, flags) = match a.pos.len() {
                    1 => (None, a.list(0, "hasflag")?),
                    2 => {
                        self.need("variables", line, "a flag variable")?;
                        (Some(a.list(0, "hasflag")?), a.list(1, "hasflag")?)
                    }
                    _ => {
                        return Err(ScriptError::new(
                            line,
                            "'hasflag' takes one or two arguments",
                        ))
                    }
                };
                Test::HasFlag {
                    m: self.matcher(&a)?,
                    vars,
                    flags,
                }
            }
            "mailboxexists" => {
                self.need("mailbox", line, "test 'mailboxexists'")?;
                let a = self.args(n, &[])?;
                a.count(1, "mailboxexists")?;
                Test::MailboxExists(a.list(0, "mailboxexists")?)
            }
            "date" => {
                self.need("date", line, "test 'date'")?;
                const D: Spec = &[
                    ("zone", "", TagArg::Str),
                    ("originalzone", "", TagArg::Flag),
                ];
                let a = self.args(n, &[MATCH_TAGS, D, INDEX_TAGS])?;
                a.count(3, "date")?;
                let part = a.string(1, "date")?.to_ascii_lowercase();
                check_date_part(&part, line)?;
                Test::Date {
                    m: self.matcher(&a)?,
                    zone: self.zone(&a)?,
                    index: self.index(&a)?,
                    header: a.string(0, "date")?,
                    part,
                    keys: a.list(2, "date")?,
                }
            }
            "currentdate" => {
                self.need("date", line, "test 'currentdate'")?;
                let a = self.args(n, &[MATCH_TAGS, &[("zone", "", TagArg::Str)]])?;
                a.count(2, "currentdate")?;
                let part = a.string(0, "currentdate")?.to_ascii_lowercase();
                check_date_part(&part, line)?;
                Test::CurrentDate {
                    m: self.matcher(&a)?,
                    zone: self.zone(&a)?,
                    part,
                    keys: a.list(1, "currentdate")?,
                }
            }
            "duplicate" => {
                self.need("duplicate", line, "test 'duplicate'")?;
                const D: Spec = &[
                    ("handle", "", TagArg::Str),
                    ("header", "", TagArg::Str),
                    ("uniqueid", "", TagArg::Str),
                    ("seconds", "", TagArg::Num),
                    ("days", "", TagArg::Num),
                    ("last", "", TagArg::Flag),
                ];
                let a = self.args(n, &[D])?;
                a.count(0, "duplicate")?;
                if a.has("header") && a.has("uniqueid") {
                    return Err(ScriptError::new(
                        line,
                        ":header and :uniqueid exclude each other",
                    ));
                }
                if a.has("seconds") && a.has("days") {
                    return Err(ScriptError::new(
                        line,
                        ":seconds and :days exclude each other",
                    ));
                }
                Test::Duplicate {
                    handle: a.tag_str("handle"),
                    header: a.tag_str("header"),
                    uniqueid: a.tag_str("uniqueid"),
                    seconds: a
                        .tag_num("seconds")
                        .or_else(|| a.tag_num("days").map(|d| d.saturating_mul(86_400)))
                        .unwrap_or(7 * 86_400),
                    last: a.has("last"),
                }
            }
            name @ ("spamtest" | "virustest") => {
                let virus = name == "virustest";
                if virus {
                    self.need("virustest", line, "test 'virustest'")?;
                } else if !self.requires.contains("spamtestplus") {
                    self.need("spamtest", line, "test 'spamtest'")?;
                }
                let a = self.args(
                    n,
                    &[MATCH_TAGS, &[("percent", "spamtestplus", TagArg::Flag)]],
                )?;
                a.count(1, name)?;
                Test::Spam {
                    virus,
                    percent: a.has("percent"),
                    m: self.matcher(&a)?,
                    value: a.string(0, name)?,
                }
            }
            other => return Err(ScriptError::new(line, format!("unknown test '{other}'"))),
        })
    }
}

const DATE_PARTS: &[&str] = &[
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601",
    "std11", "zone", "weekday",
];

fn check_date_part(part: &str, line: u32) -> Result<(), ScriptError> {
    if DATE_PARTS.contains(&part) {
        Ok(())
    } else {
        Err(ScriptError::new(
            line,
            format!("unknown date part \"{part}\""),
        ))
    }
}

/// `+hhmm` / `-hhmm` as minutes east of UTC.
pub(crate) fn parse_zone(z: &str) -> Option<i64> {
    let b = z.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h: i64 = z[1..3].parse().ok()?;
    let m: i64 = z[3..5].parse().ok()?;
    (h < 24 && m < 60).then_some(sign * (h * 60 + m))
}

/// RFC 5322 field names: printable ASCII except colon.
pub(crate) fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 998
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// `local@domain` with nothing odd: what `redirect` may send to.
pub(crate) fn plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'<' || b == b'>')
}
