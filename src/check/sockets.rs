//! `lmtp_listen` and `auth_listen`: what would stop them at startup, and
//! what the systemd unit's sandbox keeps them from.

use super::{error, warn, Finding, Sandbox};
use crate::config::{Config, SocketSpec};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub fn check(config: &Config, sandbox: Option<&Sandbox>, out: &mut Vec<Finding>) {
    let all = [
        ("lmtp_listen", &config.lmtp_listen),
        ("auth_listen", &config.auth_listen),
    ];
    for (key, specs) in all {
        for spec in specs {
            match spec {
                SocketSpec::Unix(path) => unix(key, path, sandbox, out),
                SocketSpec::Tcp(addr) if addr.port() != 0 => {
                    if let Err(e) = std::net::TcpListener::bind(addr) {
                        error(out, format!("{key}: cannot listen on {addr}: {e}"));
                    }
                }
                SocketSpec::Tcp(_) => {}
            }
        }
    }
}

fn unix(key: &str, path: &Path, sandbox: Option<&Sandbox>, out: &mut Vec<Finding>) {
    let shown = path.display();
    let Some(dir) = path.parent() else {
        return;
    };
    if !dir.is_dir() {
        error(
            out,
            format!(
                "{key}: {shown}: the directory {} does not exist",
                dir.display()
            ),
        );
        return;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            error(out, format!("{key}: {shown} exists and is not a socket"));
        } else if UnixStream::connect(path).is_ok() {
            // Expected while Dovecot still runs, like the ports.
            warn(
                out,
                format!("{key}: {shown} is in use by another running server"),
            );
        }
    }
    if let Some(sandbox) = sandbox {
        if sandbox.access(dir) != super::sandbox::Access::Writable {
            error(
                out,
                format!(
                    "{key}: under {} Roost cannot create {shown}; `systemctl edit roost` and add \
                     under [Service]: ReadWritePaths={} (and, for unix_socket_owner/group, \
                     CAP_CHOWN; for a directory Roost's user does not own, CAP_DAC_OVERRIDE, in \
                     CapabilityBoundingSet=)",
                    sandbox.unit.display(),
                    dir.display()
                ),
            );
        }
    }
}
