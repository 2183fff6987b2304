//! What the tests of the `function` binary share: a free port, raw HTTP/1.1 on a new
//! connection, waiting for readiness or for exit, and SIGTERM.

// Each test file is its own crate and uses a different subset.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_function");
/// Longest wait for a start, a connection or an answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A free port on 127.0.0.1 (bound then released; the kernel will not hand it out
/// again immediately).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends raw bytes, returns the whole response (the request must close the connection).
pub fn http(addr: SocketAddr, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Returns once `GET /readyz` on `addr` is answered; fails the test after [`TIMEOUT`].
pub fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + TIMEOUT;
    while http(
        addr,
        "GET /readyz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the function did not become ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exit status of `child` if it exits within `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends SIGTERM to `child`, as the kubelet does.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Joins client threads that each return (requests answered, failures), fails the test
/// on any failure, and returns the total answered.
pub fn join_clients(clients: Vec<std::thread::JoinHandle<(usize, Vec<String>)>>) -> usize {
    let mut answered = 0;
    for client in clients {
        let (count, failures) = client.join().unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        answered += count;
    }
    answered
}
