//! The NOTIFY grammar (RFC 5465 §8).

use super::{Expected, Parser};
use crate::proto::types::{CommandBody, NotifyEvents, NotifyFilter, NotifyGroup, NotifySet};

/// More groups than any client sends; bounds the work of one command.
const MAX_GROUPS: usize = 64;

impl Parser<'_> {
    /// `notify = "NOTIFY" SP (notify-set / notify-none)`.
    pub(crate) fn notify(&mut self) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let word = self.atom().ok_or(Expected("SET or NONE"))?;
        if word.eq_ignore_ascii_case(b"NONE") {
            return Ok(CommandBody::Notify(None));
        }
        if !word.eq_ignore_ascii_case(b"SET") {
            return Err(Expected("SET or NONE"));
        }
        let mut set = NotifySet::default();
        self.expect_sp()?;
        if self.peek() != Some(b'(') {
            let word = self.atom().ok_or(Expected("STATUS or event group"))?;
            if !word.eq_ignore_ascii_case(b"STATUS") {
                return Err(Expected("STATUS or event group"));
            }
            set.status = true;
            self.expect_sp()?;
        }
        loop {
            if set.groups.len() >= MAX_GROUPS {
                return Err(Expected("fewer event groups"));
            }
            set.groups.push(self.event_group()?);
            if self.peek() != Some(b' ') {
                break;
            }
            self.pos += 1;
        }
        Ok(CommandBody::Notify(Some(set)))
    }

    /// RFC 5465 `filter-mailboxes`, given its first word in lower case
    /// (NOTIFY's and MULTISEARCH's); None for a word it does not know.
    pub(super) fn mailbox_filter(&mut self, word: &[u8]) -> Result<Option<NotifyFilter>, Expected> {
        Ok(Some(match word {
            b"selected" => NotifyFilter::Selected,
            b"selected-delayed" => NotifyFilter::SelectedDelayed,
            b"inboxes" => NotifyFilter::Inboxes,
            b"personal" => NotifyFilter::Personal,
            b"subscribed" => NotifyFilter::Subscribed,
            b"subtree" => NotifyFilter::Subtree(self.one_or_more_mailbox()?),
            b"mailboxes" => NotifyFilter::Mailboxes(self.one_or_more_mailbox()?),
            _ => return Ok(None),
        }))
    }

    /// `event-group = "(" filter-mailboxes SP events ")"`.
    fn event_group(&mut self) -> Result<NotifyGroup, Expected> {
        self.expect(b'(', "( event group")?;
        let word = self.atom().ok_or(Expected("mailbox filter"))?;
        let filter = self
            .mailbox_filter(&word.to_ascii_lowercase())?
            .ok_or(Expected("mailbox filter"))?;
        self.expect_sp()?;
        let events = if self.peek() == Some(b'(') {
            self.pos += 1;
            Some(self.events()?)
        } else {
            let word = self.atom().ok_or(Expected("events"))?;
            if !word.eq_ignore_ascii_case(b"NONE") {
                return Err(Expected("events"));
            }
            None
        };
        self.expect(b')', ") after event group")?;
        Ok(NotifyGroup { filter, events })
    }

    /// `SP one-or-more-mailbox`: a mailbox or `"(" mailbox *(SP mailbox) ")"`.
    pub(super) fn one_or_more_mailbox(&mut self) -> Result<Vec<Vec<u8>>, Expected> {
        self.expect_sp()?;
        if self.peek() != Some(b'(') {
            return Ok(vec![self.astring()?]);
        }
        self.pos += 1;
        let mut names = Vec::new();
        loop {
            names.push(self.astring()?);
            if self.list_end("SP or ) in mailbox list")? {
                return Ok(names);
            }
        }
    }

    /// `event *(SP event) ")"`, the `(` already read.
    fn events(&mut self) -> Result<NotifyEvents, Expected> {
        let mut ev = NotifyEvents::default();
        loop {
            let word = self.atom().ok_or(Expected("event"))?;
            match word.to_ascii_lowercase().as_slice() {
                b"messagenew" => {
                    let mut atts = Vec::new();
                    if self.input[self.pos..].starts_with(b" (") {
                        self.pos += 2;
                        loop {
                            atts.push(self.fetch_att()?);
                            if self.list_end("SP or ) in fetch attribute list")? {
                                break;
                            }
                        }
                    }
                    ev.message_new = Some(atts);
                }
                b"messageexpunge" => ev.message_expunge = true,
                b"flagchange" => ev.flag_change = true,
                b"annotationchange" => ev.annotation_change = true,
                b"mailboxname" => ev.mailbox_name = true,
                b"subscriptionchange" => ev.subscription_change = true,
                b"mailboxmetadatachange" => ev.mailbox_metadata_change = true,
                b"servermetadatachange" => ev.server_metadata_change = true,
                _ => ev.unknown.push(String::from_utf8_lossy(&word).into_owned()),
            }
            if self.list_end("SP or ) in event list")? {
                return Ok(ev);
            }
        }
    }
}
