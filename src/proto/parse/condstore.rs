//! The RFC 7162 (CONDSTORE/QRESYNC) additions to the command grammar:
//! select parameters, fetch and store modifiers, mod-sequence values.
//! A child of `parse`, so it works on the same `Parser`.

use super::{Expected, Parser};
use crate::proto::types::{FetchModifiers, QresyncParams, SelectParams, SequenceSet};

/// `mod-sequence-value = 1*DIGIT` below 2^63 (RFC 7162 §7).
const MAX_MODSEQ: u64 = i64::MAX as u64;

impl Parser<'_> {
    /// `mod-sequence-valzer` (0 allowed) or `mod-sequence-value` (not).
    pub(crate) fn mod_sequence(&mut self, zero_ok: bool) -> Result<u64, Expected> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let n = std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n <= MAX_MODSEQ)
            .ok_or(Expected("mod-sequence value"))?;
        if n == 0 && !zero_ok {
            return Err(Expected("non-zero mod-sequence value"));
        }
        Ok(n)
    }

    /// `[SP "(" select-param *(SP select-param) ")"]` after the mailbox.
    pub(crate) fn select_params(&mut self) -> Result<SelectParams, Expected> {
        let mut params = SelectParams::default();
        if self.peek() != Some(b' ') {
            return Ok(params);
        }
        self.pos += 1;
        self.expect(b'(', "( before select parameters")?;
        loop {
            let name = self
                .atom()
                .ok_or(Expected("CONDSTORE or QRESYNC"))?
                .to_ascii_uppercase();
            match name.as_slice() {
                b"CONDSTORE" => params.condstore = true,
                b"QRESYNC" if params.qresync.is_none() => {
                    self.expect_sp()?;
                    params.qresync = Some(self.qresync()?);
                }
                _ => return Err(Expected("CONDSTORE or QRESYNC")),
            }
            if self.list_end("SP or ) in select parameters")? {
                return Ok(params);
            }
        }
    }

    /// `"(" uidvalidity SP mod-sequence-value [SP known-uids]
    /// [SP seq-match-data] ")"`
    fn qresync(&mut self) -> Result<QresyncParams, Expected> {
        self.expect(b'(', "( after QRESYNC")?;
        let uidvalidity = self.nz_number()?;
        self.expect_sp()?;
        let modseq = self.mod_sequence(false)?;
        let mut known_uids = None;
        let mut seq_match = None;
        if self.peek() == Some(b' ') {
            self.pos += 1;
            if self.peek() != Some(b'(') {
                known_uids = Some(self.uid_set()?);
                if self.peek() == Some(b' ') {
                    self.pos += 1;
                }
            }
            if self.peek() == Some(b'(') {
                self.pos += 1;
                let seqs = self.uid_set()?;
                self.expect_sp()?;
                let uids = self.uid_set()?;
                self.expect(b')', ") after seq-match-data")?;
                seq_match = Some((seqs, uids));
            }
        }
        self.expect(b')', ") after QRESYNC parameters")?;
        Ok(QresyncParams {
            uidvalidity,
            modseq,
            known_uids,
            seq_match,
        })
    }

    /// A sequence set without `*` (RFC 7162 §7 `known-uids`, `seq-match-data`).
    fn uid_set(&mut self) -> Result<SequenceSet, Expected> {
        let set = self.sequence_set()?;
        if set.items().iter().any(|&(a, b)| {
            matches!(a, crate::proto::types::SeqNumber::Last)
                || matches!(b, crate::proto::types::SeqNumber::Last)
        }) {
            return Err(Expected("a set of numbers without *"));
        }
        Ok(set)
    }

    /// `[SP "(" fetch-modifier *(SP fetch-modifier) ")"]` after the items.
    pub(crate) fn fetch_modifiers(&mut self) -> Result<FetchModifiers, Expected> {
        let mut m = FetchModifiers::default();
        if self.peek() != Some(b' ') {
            return Ok(m);
        }
        self.pos += 1;
        self.expect(b'(', "( before fetch modifiers")?;
        loop {
            let name = self
                .atom()
                .ok_or(Expected("CHANGEDSINCE or VANISHED"))?
                .to_ascii_uppercase();
            match name.as_slice() {
                b"CHANGEDSINCE" if m.changed_since.is_none() => {
                    self.expect_sp()?;
                    m.changed_since = Some(self.mod_sequence(true)?);
                }
                b"VANISHED" if !m.vanished => m.vanished = true,
                _ => return Err(Expected("CHANGEDSINCE or VANISHED")),
            }
            if self.list_end("SP or ) in fetch modifiers")? {
                return Ok(m);
            }
        }
    }

    /// `[SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"]` before the
    /// store action.
    pub(crate) fn store_modifiers(&mut self) -> Result<Option<u64>, Expected> {
        if self.input.get(self.pos..self.pos + 2) != Some(b" (") {
            return Ok(None);
        }
        self.pos += 2;
        let name = self
            .atom()
            .ok_or(Expected("UNCHANGEDSINCE"))?
            .to_ascii_uppercase();
        if name != b"UNCHANGEDSINCE" {
            return Err(Expected("UNCHANGEDSINCE"));
        }
        self.expect_sp()?;
        let n = self.mod_sequence(true)?;
        self.expect(b')', ") after UNCHANGEDSINCE")?;
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use crate::proto::parse::parse_command;
    use crate::proto::types::{CommandBody, FetchAtt, SeqNumber};

    #[test]
    fn select_with_qresync_parameters() {
        let c = parse_command(
            b"A03 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))",
        )
        .expect("parses");
        let CommandBody::Select { params, .. } = c.body else {
            panic!("not a SELECT");
        };
        let q = params.qresync.expect("qresync");
        assert_eq!(q.uidvalidity, 67890007);
        assert_eq!(q.modseq, 90060115194045000);
        assert_eq!(q.known_uids.expect("uids").items().len(), 2);
        let c = parse_command(
            b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500 15000,22500)))",
        )
        .expect("parses");
        let CommandBody::Select { params, .. } = c.body else {
            panic!("not a SELECT");
        };
        let (seqs, uids) = params.qresync.expect("qresync").seq_match.expect("match");
        assert_eq!(
            seqs.items()[1],
            (SeqNumber::Value(7500), SeqNumber::Value(7500))
        );
        assert_eq!(
            uids.items()[0],
            (SeqNumber::Value(15000), SeqNumber::Value(15000))
        );
        let c = parse_command(b"a EXAMINE x (CONDSTORE)").expect("parses");
        assert!(
            matches!(c.body, CommandBody::Select { read_only: true, ref params, .. } if params.condstore)
        );
        super::super::tests::rejects(&[
            &b"a SELECT x (QRESYNC (0 5))"[..],
            b"a SELECT x (QRESYNC (1 0))",
            b"a SELECT x (QRESYNC (1 5 1:*))",
            b"a SELECT x (BOGUS)",
            b"a SELECT x ()",
            b"a SELECT x (QRESYNC (1 99999999999999999999))",
        ]);
    }

    #[test]
    fn fetch_and_store_modifiers() {
        let c = parse_command(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
            .expect("parses");
        let CommandBody::Fetch { modifiers, .. } = c.body else {
            panic!("not a FETCH");
        };
        assert_eq!(modifiers.changed_since, Some(12345));
        assert!(modifiers.vanished);
        let c = parse_command(b"a FETCH 1:3 (MODSEQ)").expect("parses");
        assert!(
            matches!(c.body, CommandBody::Fetch { ref items, .. } if items == &vec![FetchAtt::Modseq])
        );
        let c = parse_command(b"a FETCH 1 MODSEQ (CHANGEDSINCE 0)").expect("parses");
        assert!(
            matches!(c.body, CommandBody::Fetch { modifiers, .. } if modifiers.changed_since == Some(0))
        );
        let c = parse_command(
            b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
        )
        .expect("parses");
        assert!(matches!(
            c.body,
            CommandBody::Store {
                unchanged_since: Some(12121230045),
                silent: true,
                ..
            }
        ));
        let c = parse_command(b"a STORE 1 FLAGS (\\Seen)").expect("parses");
        assert!(matches!(
            c.body,
            CommandBody::Store {
                unchanged_since: None,
                ..
            }
        ));
        super::super::tests::rejects(&[
            &b"a FETCH 1 FLAGS (CHANGEDSINCE)"[..],
            b"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)",
            b"a FETCH 1 FLAGS (BOGUS 1)",
            b"a STORE 1 (UNCHANGEDSINCE x) FLAGS \\Seen",
            b"a STORE 1 (UNCHANGEDSINCE 5 FLAGS \\Seen",
        ]);
    }
}
