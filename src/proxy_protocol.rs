//! The PROXY protocol version 1 header (HAProxy's text form, which nginx
//! sends with `proxy_protocol on`): one line before anything else,
//! `PROXY TCP4 <client> <proxy> <client port> <proxy port>\r\n`, naming
//! the client the proxy serves. Read only from `proxy_protocol_from`.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// The longest v1 header, CRLF included (the specification's bound).
const MAX_HEADER: usize = 107;

/// How long a trusted proxy has to send its header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the header off `tcp` (byte by byte: what follows belongs to the
/// session). Some(client) for TCP4/TCP6, None for `PROXY UNKNOWN`.
pub fn read_header(mut tcp: &TcpStream) -> io::Result<Option<SocketAddr>> {
    tcp.set_read_timeout(Some(HEADER_TIMEOUT))?;
    let mut line = Vec::with_capacity(MAX_HEADER);
    while !line.ends_with(b"\r\n") {
        if line.len() >= MAX_HEADER {
            return Err(invalid("header longer than 107 bytes"));
        }
        let mut byte = [0u8; 1];
        if tcp.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    tcp.set_read_timeout(None)?;
    let text = std::str::from_utf8(&line[..line.len() - 2]).map_err(|_| invalid("not ASCII"))?;
    parse(text)
}

/// Parses the header line without its CRLF.
fn parse(text: &str) -> io::Result<Option<SocketAddr>> {
    let fields: Vec<&str> = text.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src.parse().map_err(|_| invalid("bad source address"))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(invalid("address does not match its family"));
            }
            let port: u16 = sport.parse().map_err(|_| invalid("bad source port"))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(invalid("not a PROXY v1 header")),
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("PROXY header: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_are_refused() {
        assert_eq!(
            parse("PROXY TCP4 192.0.2.7 10.0.0.1 51000 143").unwrap(),
            Some("192.0.2.7:51000".parse().unwrap())
        );
        assert_eq!(
            parse("PROXY TCP6 2001:db8::7 ::1 4000 143").unwrap(),
            Some("[2001:db8::7]:4000".parse().unwrap())
        );
        assert_eq!(parse("PROXY UNKNOWN").unwrap(), None);
        for bad in [
            "PROXY TCP4 2001:db8::7 ::1 4000 143",
            "PROXY TCP4 1.2.3.4 5.6.7.8 99999 143",
            "a1 LOGIN x y",
            "PROXY TCP4 1.2.3.4",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
