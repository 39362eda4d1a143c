//! nginx's mail proxy authentication protocol (`auth_http` of
//! ngx_mail_auth_http_module): nginx takes the client's LOGIN, asks here
//! with one HTTP/1.0 GET whose headers carry the user name and password
//! (`Auth-User`, `Auth-Pass`, percent-escaped), and connects the client
//! to the `Auth-Server`:`Auth-Port` this answers, or tells the client the
//! `Auth-Status` text and waits `Auth-Wait` seconds.
//!
//! The password is checked as an IMAP login would be (same passdbs, same
//! failure throttle, keyed on nginx's `Client-IP`). A user's node is the
//! first of `cluster_nodes` in an order fixed by hashing the user name with
//! each node (rendezvous hashing) that accepts a TCP connection: the same
//! node on every login, and when it dies only its users move.
//!
//! One request per connection, read to its blank line; no body. Small
//! enough that an HTTP crate would bring more than it saves.

use crate::context::ServerContext;
use crate::lmtp::listen::Stream;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The longest request head accepted (nginx's are a few hundred bytes).
const MAX_REQUEST: usize = 16 * 1024;
/// How long nginx has to send its request, and we to answer (the
/// failure throttle may hold an answer up to 15 s).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node has to accept the probe connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// `Auth-Wait` after a refusal: nginx waits this long before it lets the
/// client try again (on top of the throttle's own delay).
const FAILURE_WAIT_SECS: u32 = 3;

/// Serves one nginx connection: one request, one answer.
pub fn serve(ctx: Arc<ServerContext>, mut stream: Stream, peer: String) {
    if let Err(e) = stream.set_timeouts(IO_TIMEOUT) {
        log::debug!("auth_http peer={peer}: cannot set timeouts: {e}");
    }
    let answer = match read_request(&mut stream) {
        Ok(req) => answer(&ctx, &req, &peer),
        Err(e) => {
            log::info!("auth_http peer={peer}: bad request: {e}");
            "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_string()
        }
    };
    if let Err(e) = stream
        .write_all(answer.as_bytes())
        .and_then(|()| stream.flush())
    {
        log::info!("auth_http peer={peer}: cannot answer: {e}");
    }
}

/// A request's headers, names lower-cased, values as sent.
struct Request {
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the request line and headers up to the blank line.
fn read_request(stream: &mut Stream) -> io::Result<Request> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST {
            return Err(bad("request head too long"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    if !request_line.starts_with("GET ") {
        return Err(bad("not a GET"));
    }
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Request { headers })
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// The response to one request.
fn answer(ctx: &ServerContext, req: &Request, peer: &str) -> String {
    let method = req.header("auth-method").unwrap_or("");
    let user = unescape(req.header("auth-user").unwrap_or(""));
    let pass = unescape(req.header("auth-pass").unwrap_or(""));
    let client: IpAddr = req
        .header("client-ip")
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let protocol = req.header("auth-protocol").unwrap_or("-");
    let session = format!("auth_http peer={peer} client={client}");
    if !method.eq_ignore_ascii_case("plain") || user.is_empty() {
        // APOP and CRAM-MD5 need the clear-text password on our side.
        log::info!("{session} method={method:?} refused: only plain is served");
        return refusal("Invalid login or password");
    }
    let Ok(user) = String::from_utf8(user) else {
        return refusal("Invalid login or password");
    };
    let detail = format!("protocol={protocol}");
    let account = crate::auth::check_password(
        &ctx.config,
        &ctx.passwd,
        &ctx.throttle,
        client,
        &user,
        &pass,
        &session,
        &detail,
    );
    let account = match account {
        Ok(account) => account,
        Err(denied) => {
            return refusal(
                denied
                    .reason
                    .as_deref()
                    .unwrap_or("Invalid login or password"),
            )
        }
    };
    let name = account.entry.name;
    match pick_node(&ctx.config.cluster_nodes, &name, node_accepts) {
        Some(node) => {
            log::info!(
                "{session} user={} {detail} routed to {node}",
                crate::auth::printable(&name, 200)
            );
            format!(
                "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: {}\r\nAuth-Port: {}\r\n\r\n",
                node.ip(),
                node.port()
            )
        }
        None => {
            log::warn!(
                "{session} user={} no cluster node accepts connections",
                crate::auth::printable(&name, 200)
            );
            format!(
                "HTTP/1.0 200 OK\r\nAuth-Status: Temporary server problem, try again later\r\n\
                 Auth-Wait: {FAILURE_WAIT_SECS}\r\n\r\n"
            )
        }
    }
}

fn refusal(status: &str) -> String {
    format!("HTTP/1.0 200 OK\r\nAuth-Status: {status}\r\nAuth-Wait: {FAILURE_WAIT_SECS}\r\n\r\n")
}

/// Whether a node accepts a TCP connection now.
fn node_accepts(node: &SocketAddr) -> bool {
    TcpStream::connect_timeout(node, PROBE_TIMEOUT).is_ok()
}

/// The user's node: the nodes ordered by a hash of (user, node), the
/// first that `alive` accepts. Adding or losing a node moves only the
/// users whose first choice it is.
fn pick_node(
    nodes: &[SocketAddr],
    user: &str,
    alive: impl Fn(&SocketAddr) -> bool,
) -> Option<SocketAddr> {
    let mut ranked: Vec<(u64, SocketAddr)> = nodes.iter().map(|n| (score(user, n), *n)).collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, n)| n).find(|n| alive(n))
}

/// FNV-1a over the user name and the node's address: stable across
/// processes, hosts and releases (std's hasher is seeded per process).
fn score(user: &str, node: &SocketAddr) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let node = node.to_string();
    for b in user.bytes().chain([0u8]).chain(node.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly for short inputs: finish them off.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Undoes nginx's escaping of `Auth-User`/`Auth-Pass` (`%XX` for space,
/// `%` and control bytes); a malformed escape stays as it is.
fn unescape(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<SocketAddr> {
        (1..=3)
            .map(|i| format!("10.0.0.{i}:143").parse().unwrap())
            .collect()
    }

    #[test]
    fn a_user_keeps_a_node_and_only_a_dead_nodes_users_move() {
        let nodes = nodes();
        let users: Vec<String> = (0..300).map(|i| format!("user{i}")).collect();
        let first: Vec<SocketAddr> = users
            .iter()
            .map(|u| pick_node(&nodes, u, |_| true).unwrap())
            .collect();
        // Every node gets a fair share.
        for n in &nodes {
            let share = first.iter().filter(|f| *f == n).count();
            assert!((60..=140).contains(&share), "{n}: {share} of 300");
        }
        let dead = nodes[1];
        for (u, was) in users.iter().zip(&first) {
            let now = pick_node(&nodes, u, |n| *n != dead).unwrap();
            if *was == dead {
                assert_ne!(now, dead);
            } else {
                assert_eq!(now, *was, "{u} moved though its node lives");
            }
        }
        assert_eq!(pick_node(&nodes, "x", |_| false), None);
    }

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape("a%20b%25c"), b"a b%c");
        assert_eq!(unescape("100%"), b"100%");
        assert_eq!(unescape("%zz"), b"%zz");
    }
}
