//! `passdb = pam`: passwords checked by the system's PAM stack, so sites
//! can use `pam_unix`, LDAP, Kerberos or 2FA modules.
//!
//! A small FFI module over libpam rather than a binding crate: the five
//! calls needed (`pam_start`, `pam_set_item`, `pam_authenticate`,
//! `pam_acct_mgmt`, `pam_end`) and a conversation callback are less code
//! than a dependency to audit, and the crates available either link
//! `-lpam` (which needs `libpam0g-dev` to build) or pull in bindgen.
//! libpam is opened with `dlopen("libpam.so.0")` when first needed, so the
//! binary builds without PAM's headers and runs without libpam when PAM
//! is not configured.
//!
//! A PAM module may block (an LDAP server not answering), and a thread in
//! a PAM call cannot be interrupted. The check therefore runs on a helper
//! thread started from the login's thread (still root, before the session
//! takes its user's identity); the login waits at most `pam_timeout` and
//! then refuses. Checks that outlived their login are counted; while
//! [`MAX_STUCK`] of them are still running, new PAM checks are refused at
//! once, so a hung module cannot pile up threads. PAM's own failure delay (`pam_unix`
//! waits ~2 s) is replaced by Roost's throttle through `PAM_FAIL_DELAY`, as
//! Dovecot does.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Most PAM checks still running after their login gave up on them.
pub const MAX_STUCK: usize = 32;

/// What PAM said about a login.
#[derive(Debug, PartialEq, Eq)]
pub enum PamOutcome {
    Success,
    /// Wrong password, unknown user, expired or locked account.
    Failure,
    /// PAM could not decide (not installed, timed out, too busy).
    Unavailable(String),
}

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_RHOST: c_int = 4;
const PAM_FAIL_DELAY: c_int = 10;
const PAM_SILENT: c_int = 0x8000;
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

type PamStart =
    unsafe extern "C" fn(*const c_char, *const c_char, *const PamConv, *mut *mut c_void) -> c_int;
type PamSetItem = unsafe extern "C" fn(*mut c_void, c_int, *const c_void) -> c_int;
type PamFlagsCall = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// libpam's entry points, resolved once.
struct Lib {
    start: PamStart,
    set_item: PamSetItem,
    authenticate: PamFlagsCall,
    acct_mgmt: PamFlagsCall,
    end: PamFlagsCall,
}

fn lib() -> Result<&'static Lib, String> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Lib, String> {
    // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is cast
    // to the signature libpam's headers (security/pam_appl.h) give it. The
    // handle is never closed, so the pointers stay valid.
    unsafe {
        let handle = libc::dlopen(c"libpam.so.0".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            return Err("cannot load libpam.so.0 (install libpam0g)".into());
        }
        let sym = |name: &CStr| {
            let p = libc::dlsym(handle, name.as_ptr());
            if p.is_null() {
                Err(format!("libpam.so.0 has no {}", name.to_string_lossy()))
            } else {
                Ok(p)
            }
        };
        Ok(Lib {
            start: std::mem::transmute::<*mut c_void, PamStart>(sym(c"pam_start")?),
            set_item: std::mem::transmute::<*mut c_void, PamSetItem>(sym(c"pam_set_item")?),
            authenticate: std::mem::transmute::<*mut c_void, PamFlagsCall>(sym(
                c"pam_authenticate",
            )?),
            acct_mgmt: std::mem::transmute::<*mut c_void, PamFlagsCall>(sym(c"pam_acct_mgmt")?),
            end: std::mem::transmute::<*mut c_void, PamFlagsCall>(sym(c"pam_end")?),
        })
    }
}

/// PAM checks whose login stopped waiting but which have not returned.
static STUCK: AtomicUsize = AtomicUsize::new(0);

/// Checks `user`'s `password` with PAM service `service` (auth, then
/// account: an expired or locked account fails), waiting at most `timeout`.
pub fn check(
    service: &str,
    user: &str,
    password: &[u8],
    rhost: IpAddr,
    timeout: Duration,
) -> PamOutcome {
    let (Ok(service), Ok(c_user), Ok(secret)) = (
        CString::new(service),
        CString::new(user),
        CString::new(password),
    ) else {
        // A NUL byte cannot be part of a Unix name or password.
        return PamOutcome::Failure;
    };
    let rhost = CString::new(rhost.to_string()).unwrap_or_default();
    let stuck = STUCK.load(Ordering::Acquire);
    if stuck >= MAX_STUCK {
        return PamOutcome::Unavailable(format!("{stuck} earlier PAM checks have not returned"));
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    // Set by whichever side finishes first: the worker (done) or the
    // waiter (gave up). The second to arrive knows what the first did.
    let first = Arc::new(AtomicBool::new(false));
    let worker_first = Arc::clone(&first);
    let spawned = std::thread::Builder::new()
        .name("pam".into())
        .spawn(move || {
            let outcome = run(&service, &c_user, secret, &rhost);
            let _ = tx.send(outcome);
            if worker_first.swap(true, Ordering::AcqRel) {
                // The login gave up and counted this check as stuck.
                STUCK.fetch_sub(1, Ordering::AcqRel);
            }
        });
    if let Err(e) = spawned {
        return PamOutcome::Unavailable(format!("cannot start a thread: {e}"));
    }
    match rx.recv_timeout(timeout) {
        Ok(outcome) => outcome,
        Err(_) => {
            // Counted before the flag is set, so the worker's decrement
            // can never come first.
            STUCK.fetch_add(1, Ordering::AcqRel);
            if first.swap(true, Ordering::AcqRel) {
                // Finished just now after all.
                STUCK.fetch_sub(1, Ordering::AcqRel);
                return rx
                    .try_recv()
                    .unwrap_or(PamOutcome::Unavailable("no answer".into()));
            }
            PamOutcome::Unavailable(format!("no answer within {timeout:?}"))
        }
    }
}

/// The conversation's data: the password, handed to every hidden prompt,
/// and the user name for visible ones (as Dovecot answers).
struct Conversation {
    user: CString,
    password: CString,
}

impl Drop for Conversation {
    fn drop(&mut self) {
        // Best effort, as for `Secret`: do not leave the password behind.
        let mut bytes = std::mem::take(&mut self.password).into_bytes_with_nul();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// One PAM transaction; runs on the helper thread.
fn run(service: &CStr, user: &CStr, password: CString, rhost: &CStr) -> PamOutcome {
    let lib = match lib() {
        Ok(l) => l,
        Err(e) => return PamOutcome::Unavailable(e),
    };
    let mut data = Conversation {
        user: user.to_owned(),
        password,
    };
    let conv = PamConv {
        conv: converse,
        appdata_ptr: &mut data as *mut Conversation as *mut c_void,
    };
    let mut handle: *mut c_void = std::ptr::null_mut();
    // SAFETY: the calls follow pam_start(3): `conv` and `data` outlive the
    // transaction (pam_end is called before they go out of scope), strings
    // are NUL-terminated, and the handle is used only after a successful
    // pam_start.
    unsafe {
        let rc = (lib.start)(service.as_ptr(), user.as_ptr(), &conv, &mut handle);
        if rc != PAM_SUCCESS || handle.is_null() {
            return PamOutcome::Unavailable(format!("pam_start failed ({rc})"));
        }
        (lib.set_item)(handle, PAM_RHOST, rhost.as_ptr().cast());
        // Roost's throttle delays failures; PAM's own delay would add to it.
        let no_delay: unsafe extern "C" fn(c_int, c_uint, *mut c_void) = no_fail_delay;
        (lib.set_item)(handle, PAM_FAIL_DELAY, no_delay as *const c_void);
        let mut rc = (lib.authenticate)(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
        if rc == PAM_SUCCESS {
            rc = (lib.acct_mgmt)(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
        }
        (lib.end)(handle, rc);
        if rc == PAM_SUCCESS {
            PamOutcome::Success
        } else {
            PamOutcome::Failure
        }
    }
}

unsafe extern "C" fn no_fail_delay(_status: c_int, _usec: c_uint, _data: *mut c_void) {}

/// PAM's conversation callback: answers prompts from `appdata`.
///
/// # Safety
/// Called by libpam with `num_msg` messages and `appdata` pointing at the
/// `Conversation` given to pam_start.
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0 || num_msg > 32 || msg.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    let data = &*(appdata as *const Conversation);
    let n = num_msg as usize;
    // libpam frees the array and each answer with free(3).
    let replies = libc::calloc(n, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..n {
        // Linux-PAM passes an array of pointers to messages.
        let m = *msg.add(i);
        let answer = if m.is_null() {
            None
        } else {
            match (*m).msg_style {
                PAM_PROMPT_ECHO_OFF => Some(data.password.as_c_str()),
                PAM_PROMPT_ECHO_ON => Some(data.user.as_c_str()),
                PAM_ERROR_MSG | PAM_TEXT_INFO => None,
                _ => {
                    free_replies(replies, i);
                    return PAM_CONV_ERR;
                }
            }
        };
        if let Some(text) = answer {
            let copy = libc::strdup(text.as_ptr());
            if copy.is_null() {
                free_replies(replies, i);
                return PAM_BUF_ERR;
            }
            (*replies.add(i)).resp = copy;
        }
    }
    *resp = replies;
    PAM_SUCCESS
}

/// Frees the first `filled` answers and the array, after a failed conversation.
unsafe fn free_replies(replies: *mut PamResponse, filled: usize) {
    for i in 0..filled {
        let r = (*replies.add(i)).resp;
        if !r.is_null() {
            // Wipe the password copy before freeing it.
            libc::memset(r.cast(), 0, libc::strlen(r));
            libc::free(r.cast());
        }
    }
    libc::free(replies.cast());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_a_plain_failure() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let t = Duration::from_secs(5);
        assert_eq!(check("imap", "a\0b", b"x", ip, t), PamOutcome::Failure);
        assert_eq!(check("imap", "a", b"x\0", ip, t), PamOutcome::Failure);
    }

    #[test]
    fn an_unknown_user_fails() {
        // The `other` stack (pam_deny on Debian) or pam_unix: either refuses.
        let ip = IpAddr::from([127, 0, 0, 1]);
        let out = check(
            "roost-no-such-service",
            "no-such-user-x9",
            b"pw",
            ip,
            Duration::from_secs(20),
        );
        assert_ne!(out, PamOutcome::Success);
    }
}
