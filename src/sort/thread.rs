//! THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3), Dovecot's
//! THREAD=REFS, and the thread list they answer with (§4).
//!
//! Both build a forest of [`Node`]s over the matched messages (indices
//! into the caller's slice); a node without a message is a dummy, the
//! stand-in for a parent that is missing.

use super::SortFacts;
use std::collections::HashMap;
use std::fmt::Write;

/// One place in a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub msg: Option<usize>,
    pub children: Vec<Node>,
}

/// The date a node sorts by: its message's, or a dummy's first child's
/// (children sorted first), with the sequence number to break ties.
fn date_of(node: &Node, facts: &[SortFacts]) -> (i64, u32) {
    match node.msg {
        Some(i) => (facts[i].sent, facts[i].msn),
        None => node.children.first().map_or((0, 0), |c| date_of(c, facts)),
    }
}

/// ORDEREDSUBJECT: messages grouped by base subject, each group's first
/// (by sent date) the parent of the others; groups by their first date.
pub fn ordered_subject(facts: &[SortFacts]) -> Vec<Node> {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (&facts[a], &facts[b]);
        (&fa.subject.text, fa.sent, fa.msn).cmp(&(&fb.subject.text, fb.sent, fb.msn))
    });
    let mut threads: Vec<Node> = Vec::new();
    let mut last_subject: Option<&str> = None;
    for i in order {
        let subject = facts[i].subject.text.as_str();
        let leaf = Node {
            msg: Some(i),
            children: Vec::new(),
        };
        match threads.last_mut() {
            Some(t) if last_subject == Some(subject) => t.children.push(leaf),
            _ => threads.push(leaf),
        }
        last_subject = Some(subject);
    }
    threads.sort_by_key(|t| date_of(t, facts));
    threads
}

/// A container of the REFERENCES algorithm (§3 step 1), in an arena.
#[derive(Default)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Arena {
    boxes: Vec<Container>,
    by_id: HashMap<String, usize>,
    /// For each container, one of its ancestors (or itself): a shortcut
    /// to its root, shortened as roots are found (path compression). Links
    /// only ever hang a root under another node, which keeps every hint an
    /// ancestor; an unlink breaks that, and clears them all.
    hint: Vec<usize>,
}

impl Arena {
    fn new() -> Arena {
        Arena {
            boxes: Vec::new(),
            by_id: HashMap::new(),
            hint: Vec::new(),
        }
    }

    fn new_box(&mut self) -> usize {
        self.boxes.push(Container::default());
        self.hint.push(self.boxes.len() - 1);
        self.boxes.len() - 1
    }

    /// The root of `x`'s tree. Long reference chains make trees deep, and
    /// walking them up for every link was quadratic (100,000 messages of a
    /// mailing-list archive took 23 s); with the hints it is near-linear.
    fn root_of(&mut self, x: usize) -> usize {
        let mut at = x;
        let mut path = Vec::new();
        for _ in 0..=self.boxes.len() {
            let h = self.hint[at];
            let next = if h != at {
                Some(h)
            } else {
                self.boxes[at].parent
            };
            match next {
                Some(n) => {
                    path.push(at);
                    at = n;
                }
                None => break,
            }
        }
        for p in path {
            self.hint[p] = at;
        }
        at
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor_fast(&mut self, a: usize, b: usize) -> bool {
        if a == b {
            return true;
        }
        if self.boxes[a].children.is_empty() {
            // Nothing hangs from `a`: it is no one's ancestor.
            return false;
        }
        if self.boxes[a].parent.is_none() {
            // A root is an ancestor of exactly the nodes of its tree.
            return self.root_of(b) == a;
        }
        self.is_ancestor(a, b)
    }

    fn for_id(&mut self, id: &str) -> usize {
        if let Some(&c) = self.by_id.get(id) {
            return c;
        }
        let c = self.new_box();
        self.by_id.insert(id.to_string(), c);
        c
    }

    /// Whether `a` is `b` or one of its ancestors. The walk is bounded by
    /// the arena's size, so a loop (which links never make) cannot hang it.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut at = Some(b);
        for _ in 0..=self.boxes.len() {
            match at {
                Some(x) if x == a => return true,
                Some(x) => at = self.boxes[x].parent,
                None => return false,
            }
        }
        true
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.boxes[child].parent.take() {
            self.boxes[p].children.retain(|&c| c != child);
            // Hints below `child` may point above it: start them afresh.
            for (i, h) in self.hint.iter_mut().enumerate() {
                *h = i;
            }
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        if self.boxes[child].parent == Some(parent) {
            return;
        }
        self.unlink(child);
        self.boxes[child].parent = Some(parent);
        self.boxes[parent].children.push(child);
    }

    /// The tree under container `c`. Below `MAX_DEPTH` levels the rest
    /// of a branch hangs flat from the last node kept, so the recursive
    /// walks that follow stay within the stack whatever the mail says.
    fn tree(&self, c: usize, depth: usize) -> Node {
        let children = if depth >= MAX_DEPTH {
            self.descendants(c)
                .into_iter()
                .map(|d| Node {
                    msg: self.boxes[d].msg,
                    children: Vec::new(),
                })
                .collect()
        } else {
            self.boxes[c]
                .children
                .iter()
                .map(|&k| self.tree(k, depth + 1))
                .collect()
        };
        Node {
            msg: self.boxes[c].msg,
            children,
        }
    }

    /// Every container below `c`, depth first, without recursion.
    fn descendants(&self, c: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.boxes[c].children.iter().rev().copied().collect();
        while let Some(d) = stack.pop() {
            if out.len() >= self.boxes.len() {
                break;
            }
            out.push(d);
            stack.extend(self.boxes[d].children.iter().rev().copied());
        }
        out
    }
}

/// How deep a thread is drawn; deeper replies are drawn at this depth.
const MAX_DEPTH: usize = 400;

/// REFERENCES (§3): parent links from References / In-Reply-To, dummies
/// pruned, roots merged by base subject, siblings by sent date.
pub fn references(facts: &[SortFacts]) -> Vec<Node> {
    let forest = linked(facts, true);
    // Step 5: merge roots by base subject.
    let mut forest = merge_by_subject(forest, facts);
    // Step 6: sort every set of siblings, leaves first.
    sort_siblings(&mut forest, facts);
    forest
}

/// Dovecot's REFS: the links of REFERENCES without merging by subject,
/// a dummy root kept even over a single child; threads ordered by their
/// newest message, so the thread with the latest reply comes last (ties
/// by the root's number, a dummy's counting as 0).
pub fn refs(facts: &[SortFacts]) -> Vec<Node> {
    let mut forest = linked(facts, false);
    sort_siblings_only(&mut forest, facts);
    forest.sort_by_cached_key(|n| (newest(n, facts), n.msg.map_or(0, |i| facts[i].msn)));
    forest
}

/// Sorts the children of every node, not the nodes themselves.
fn sort_siblings_only(forest: &mut [Node], facts: &[SortFacts]) {
    for n in forest {
        sort_siblings(&mut n.children, facts);
    }
}

/// The latest sent date in a thread, without recursion.
fn newest(node: &Node, facts: &[SortFacts]) -> i64 {
    let mut best = i64::MIN;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Some(i) = n.msg {
            best = best.max(facts[i].sent);
        }
        stack.extend(n.children.iter());
    }
    best
}

/// §3 steps 1–4: containers linked by references, dummies pruned (a
/// root dummy over one child only when `promote`), the root set sorted by
/// date.
fn linked(facts: &[SortFacts], promote: bool) -> Vec<Node> {
    let mut a = Arena::new();
    for (i, f) in facts.iter().enumerate() {
        // Step 1A: link the references in order, keeping links made.
        let refs: Vec<usize> = f.references.iter().map(|id| a.for_id(id)).collect();
        for pair in refs.windows(2) {
            let (p, c) = (pair[0], pair[1]);
            if a.boxes[c].parent.is_none() && !a.is_ancestor_fast(c, p) {
                a.link(p, c);
            }
        }
        // Step 1B: this message's container; a duplicate or missing id
        // gets one of its own.
        let own = match &f.message_id {
            Some(id) => {
                let c = a.for_id(id);
                if a.boxes[c].msg.is_none() {
                    c
                } else {
                    a.new_box()
                }
            }
            None => a.new_box(),
        };
        a.boxes[own].msg = Some(i);
        // Step 1C: the last reference is the parent, whatever was
        // presumed before.
        // The old parent goes even when the new one would make a loop
        // (as in Dovecot): the message's own word beats a guess.
        match refs.last() {
            Some(&p) if !a.is_ancestor_fast(own, p) => a.link(p, own),
            _ => a.unlink(own),
        }
    }
    // Step 2: the root set. Step 3: prune dummies.
    let roots: Vec<usize> = (0..a.boxes.len())
        .filter(|&c| a.boxes[c].parent.is_none())
        .collect();
    let mut forest: Vec<Node> = Vec::new();
    for r in roots {
        forest.extend(prune(a.tree(r, 0), true, promote));
    }
    // Step 4: sort the roots by date (a dummy's children first).
    for n in &mut forest {
        sort_siblings(&mut n.children, facts);
    }
    forest.sort_by_key(|n| date_of(n, facts));
    forest
}

/// §3 step 3: dummies without children go; a dummy's children take its
/// place, except at the root where that needs a single child.
fn prune(mut node: Node, root: bool, promote: bool) -> Vec<Node> {
    let kids = std::mem::take(&mut node.children);
    node.children = kids
        .into_iter()
        .flat_map(|k| prune(k, false, promote))
        .collect();
    if node.msg.is_some() {
        return vec![node];
    }
    if node.children.is_empty() {
        Vec::new()
    } else if !root || (promote && node.children.len() == 1) {
        node.children
    } else {
        vec![node]
    }
}

fn sort_siblings(nodes: &mut [Node], facts: &[SortFacts]) {
    for n in nodes.iter_mut() {
        sort_siblings(&mut n.children, facts);
    }
    nodes.sort_by_key(|n| date_of(n, facts));
}

/// The node's message, or a dummy's first child's.
fn head(node: &Node) -> Option<usize> {
    node.msg
        .or_else(|| node.children.first().and_then(|c| c.msg))
}

/// §3 step 5: roots whose base subjects are equal become one thread.
fn merge_by_subject(forest: Vec<Node>, facts: &[SortFacts]) -> Vec<Node> {
    let subject = |n: &Node| head(n).map(|i| &facts[i].subject);
    // B/C: which root stands for each subject.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for (i, n) in forest.iter().enumerate() {
        let Some(s) = subject(n) else { continue };
        if s.text.is_empty() {
            continue;
        }
        match table.get(s.text.as_str()) {
            None => {
                table.insert(&s.text, i);
            }
            Some(&t) => {
                let old = &forest[t];
                let old_reply = subject(old).is_some_and(|o| o.is_reply);
                if (old.msg.is_some() && n.msg.is_none())
                    || (old_reply && !s.is_reply && n.msg.is_some())
                {
                    table.insert(&s.text, i);
                }
            }
        }
    }
    // D: merge the others into it.
    let mut slots: Vec<Option<Node>> = forest.iter().cloned().map(Some).collect();
    for i in 0..forest.len() {
        let Some(s) = subject(&forest[i]) else {
            continue;
        };
        if s.text.is_empty() {
            continue;
        }
        let Some(&t) = table.get(s.text.as_str()) else {
            continue;
        };
        if t == i {
            continue;
        }
        let (Some(this), Some(keep)) = (slots[i].take(), slots[t].take()) else {
            continue;
        };
        let this_reply = s.is_reply;
        let keep_reply = subject(&keep).is_some_and(|o| o.is_reply);
        let merged = match (keep.msg.is_none(), this.msg.is_none()) {
            (true, true) => {
                let mut keep = keep;
                keep.children.extend(this.children);
                keep
            }
            (true, false) => {
                let mut keep = keep;
                keep.children.push(this);
                keep
            }
            (false, true) => {
                let mut this = this;
                this.children.push(keep);
                this
            }
            (false, false) if !keep_reply && this_reply => {
                let mut keep = keep;
                keep.children.push(this);
                keep
            }
            (false, false) => Node {
                msg: None,
                children: vec![keep, this],
            },
        };
        slots[t] = Some(merged);
    }
    slots.into_iter().flatten().collect()
}

/// The `thread-list`s of a forest (§4), numbers from `number`.
pub fn write(forest: &[Node], number: impl Fn(usize) -> u32) -> String {
    let mut out = String::new();
    for n in forest {
        out.push('(');
        members(n, &number, &mut out);
        out.push(')');
    }
    out
}

/// `thread-members` / `thread-nested` of one node.
fn members(node: &Node, number: &impl Fn(usize) -> u32, out: &mut String) {
    if let (None, [only]) = (node.msg, node.children.as_slice()) {
        // A dummy over one message (REFS keeps those) is drawn as that
        // message: "((5))" is not a thread-list.
        return members(only, number, out);
    }
    if let Some(i) = node.msg {
        let _ = write!(out, "{}", number(i));
    }
    match node.children.as_slice() {
        [] => {}
        [only] if node.msg.is_some() => {
            out.push(' ');
            members(only, number, out);
        }
        kids => {
            if node.msg.is_some() {
                out.push(' ');
            }
            for k in kids {
                out.push('(');
                members(k, number, out);
                out.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::HeaderKeys;
    use std::sync::Arc;

    fn facts(n: usize, refs: impl Fn(usize) -> Vec<String>) -> Vec<SortFacts> {
        (0..n)
            .map(|i| {
                let keys = HeaderKeys {
                    message_id: Some(format!("m{i}@x")),
                    references: refs(i),
                    ..Default::default()
                };
                SortFacts::new(Arc::new(keys), i as u32 + 1, i as u32 + 1, i as i64, 0)
            })
            .collect()
    }

    #[test]
    fn a_very_deep_chain_stays_on_the_stack() {
        // Each message replies to the one before: 20,000 levels.
        let f = facts(20_000, |i| {
            if i == 0 {
                Vec::new()
            } else {
                vec![format!("m{}@x", i - 1)]
            }
        });
        let forest = references(&f);
        let text = write(&forest, |i| f[i].msn);
        let mut seen: Vec<u32> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=20_000).collect::<Vec<u32>>());
        assert!(text.starts_with("(1 2 3 "), "{}", &text[..20]);
    }

    #[test]
    fn a_message_closing_a_loop_drops_the_guessed_parent() {
        // imaptest's "thread" case: 2 says a > c > b, then c says its
        // parent is b. c becomes a root above b; a stands alone.
        let ids = ["a@b", "b@b", "c@b"];
        let refs: [&[&str]; 3] = [&[], &["a@b", "c@b"], &["b@b"]];
        let f: Vec<SortFacts> = [17, 15, 16]
            .iter()
            .enumerate()
            .map(|(i, &day)| {
                let keys = HeaderKeys {
                    message_id: Some(ids[i].into()),
                    references: refs[i].iter().map(|r| r.to_string()).collect(),
                    ..Default::default()
                };
                SortFacts::new(Arc::new(keys), i as u32 + 1, i as u32 + 1, day, 0)
            })
            .collect();
        assert_eq!(write(&references(&f), |i| f[i].msn), "(3 2)(1)");
    }

    #[test]
    fn reference_loops_are_not_followed() {
        // 0 says its parent is 1, 1 says it is 0: one must stay a root.
        let f = facts(2, |i| vec![format!("m{}@x", 1 - i)]);
        assert_eq!(write(&references(&f), |i| f[i].msn), "(2 1)");
    }
}
