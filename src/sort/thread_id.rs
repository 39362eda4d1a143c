//! RFC 8474 §5.2 THREADID: the same for every message of a conversation,
//! and never changing for a message. It is worked out from the message's
//! own header, not from the mailbox: the thread's first message is the
//! first id of References (RFC 5322 §3.6.4 keeps it there), else the
//! In-Reply-To parent, else the message's own Message-ID; the THREADID is
//! a hash of that id. So it stays the same when other messages of the
//! thread arrive or go, in every mailbox and after restarts, where a root
//! found by THREAD=REFERENCES over the mailbox would move. A reply that
//! carries only In-Reply-To to a reply lands under its parent's id; a
//! message with none of the three fields has no thread (NIL).

use super::msg_ids;

/// The THREADID of a message whose first References, In-Reply-To and
/// Message-ID fields have these raw values.
pub fn thread_id(
    references: Option<&[u8]>,
    in_reply_to: Option<&[u8]>,
    message_id: Option<&[u8]>,
) -> Option<String> {
    let first = |v: Option<&[u8]>| v.and_then(|v| msg_ids(v).into_iter().next());
    let root = first(references)
        .or_else(|| first(in_reply_to))
        .or_else(|| first(message_id))?;
    Some(crate::store::maildir::object_id('T', root.as_bytes()))
}

/// The THREADID of a header block (CRLF or LF lines).
pub fn of_header(header_block: &[u8]) -> Option<String> {
    let (mut references, mut in_reply_to, mut message_id) = (None, None, None);
    let fields = crate::mime::header::fields(header_block);
    for f in &fields {
        let slot = if f.is("References") {
            &mut references
        } else if f.is("In-Reply-To") {
            &mut in_reply_to
        } else if f.is("Message-ID") {
            &mut message_id
        } else {
            continue;
        };
        slot.get_or_insert(&f.value[..]);
    }
    thread_id(references, in_reply_to, message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_shares_the_id_of_its_first_message() {
        let root = of_header(b"Message-ID: <a@x>\r\nSubject: s\r\n\r\n").unwrap();
        let reply = of_header(b"Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n\r\n").unwrap();
        let deeper = of_header(
            b"Message-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nReferences: <a@x>\r\n <b@x>\r\n\r\n",
        )
        .unwrap();
        assert_eq!(root, reply);
        assert_eq!(root, deeper);
        assert!(root.starts_with('T') && root.len() == 25, "{root}");
        assert_ne!(of_header(b"Message-ID: <z@x>\r\n\r\n").unwrap(), root);
        assert_eq!(of_header(b"Subject: none\r\n\r\n"), None);
    }
}
