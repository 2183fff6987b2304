//! HTTP/1.1 written and read by hand over TCP, for what a client library would not send
//! (half a body, a stalled preface) or would hide (the exact bytes of a response).
//! Blocking, for the real binary; [`read_until_closed`] is its async counterpart, for
//! the in-process server. Every read is bounded by [`TIMEOUT`].

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};

use tokio::io::AsyncReadExt;

use crate::TIMEOUT;

/// The `host` a request carries unless its headers name one.
const HOST: &str = "t";

/// The bytes of an HTTP/1.1 request: the request line, `host` (unless `headers` set one),
/// `headers` as given, and for a non-empty `body` its `content-length`, then the body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        text.push_str(&format!("host: {HOST}\r\n"));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        text.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

/// A new connection to `addr` whose reads give up after [`TIMEOUT`]; `None` when it is
/// refused or takes longer than `connect_timeout`.
pub fn connect(addr: SocketAddr, connect_timeout: std::time::Duration) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, connect_timeout).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    Some(stream)
}

/// Sends raw bytes on a new connection and returns the whole response (the request must
/// close the connection); `None` if connecting, sending or reading failed.
pub fn http(addr: SocketAddr, request: &str) -> Option<String> {
    let mut stream = connect(addr, TIMEOUT)?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// [`request`] with `connection: close` added, sent with [`http`]: the whole response.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let headers = [headers, &[("connection", "close")]].concat();
    http(addr, &request(method, path, &headers, body))
}

/// `GET path` on a new connection: the whole response.
pub fn get(addr: SocketAddr, path: &str) -> Option<String> {
    call(addr, "GET", path, &[], "")
}

/// The status code and the body of a whole response.
pub fn status_and_body(response: &str) -> Option<(u16, String)> {
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// One response read off a kept-alive connection.
#[derive(Debug)]
pub struct Response {
    /// The status line as received, `\r\n` included.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// The body, `content-length` bytes of it.
    pub body: Vec<u8>,
}

/// Reads one response framed by `content-length`. `Ok(None)` when the connection closed
/// before the response's first byte (a request the server never took up); `Err` names
/// what broke off or did not parse.
pub fn read_response(reader: &mut impl BufRead) -> Result<Option<Response>, String> {
    let mut status_line = String::new();
    match reader.read_line(&mut status_line) {
        Ok(0) | Err(_) => return Ok(None),
        Ok(_) => {}
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Err(format!("headers broke off after {status_line:?}"));
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v
                .trim()
                .parse()
                .map_err(|_| format!("bad length {line:?}"))?;
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("body broke off after {status_line:?}: {e}"))?;
    Ok(Some(Response {
        status_line,
        status,
        body,
    }))
}

/// Reads until the server closes the connection (or a read error, as when it resets
/// one it did not read to the end); fails the test if a read waits over [`TIMEOUT`].
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut response = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout(TIMEOUT, stream.read(&mut buf))
            .await
            .expect("the server closes the connection within the timeout")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}
