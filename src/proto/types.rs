//! The commands Roost understands, as parsed from the wire. Types are named
//! after the RFC 3501 §9 ABNF rules they hold.

/// `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF`
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// `tag = 1*<any ASTRING-CHAR except "+">`
    pub tag: Vec<u8>,
    pub body: CommandBody,
}

/// One variant per command. Byte strings are `astring` values as decoded
/// from atom, quoted or literal form.
#[derive(PartialEq, Eq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// `login = "LOGIN" SP userid SP password`
    Login {
        user: Vec<u8>,
        password: Vec<u8>,
    },
    /// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]`
    /// (RFC 4959 adds the initial response).
    Authenticate {
        /// The mechanism name, upper-cased.
        mechanism: String,
        /// The initial response as sent (base64 text or `=`).
        initial: Option<Vec<u8>>,
    },
    /// RFC 2971: `id = "ID" SP id-params-list`; `None` for NIL.
    Id(Option<Vec<(Vec<u8>, Option<Vec<u8>>)>>),
}

impl CommandBody {
    /// The command's name as the RFC spells it, for logs and replies.
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Id(_) => "ID",
        }
    }
}

/// Debug never shows credentials: LOGIN and AUTHENTICATE hold secrets.
impl std::fmt::Debug for CommandBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandBody::Login { user, .. } => f
                .debug_struct("Login")
                .field("user", &String::from_utf8_lossy(user))
                .field("password", &"<redacted>")
                .finish(),
            CommandBody::Authenticate { mechanism, initial } => f
                .debug_struct("Authenticate")
                .field("mechanism", mechanism)
                .field("initial", &initial.as_ref().map(|_| "<redacted>"))
                .finish(),
            CommandBody::Id(params) => f.debug_tuple("Id").field(params).finish(),
            other => f.write_str(other.name()),
        }
    }
}
