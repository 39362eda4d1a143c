//! The IMAP protocol edge: framing (`reader`), parsing (`parse`, `types`)
//! and response encoding (`encode`). Nothing here touches sessions, storage
//! or sockets beyond the `Read`/`Write` the reader is given.

pub mod encode;
pub mod parse;
pub mod reader;
pub mod types;
pub mod utf7;
