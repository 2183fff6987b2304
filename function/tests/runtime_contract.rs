//! The Knative runtime contract, against the real binary started the way Knative starts
//! it: `PORT` from the Service manifest, the `K_*` variables set, stdin closed, working
//! directory `/`. The probe paths in the manifest answer 200; proxy and tracing headers
//! are accepted; h2c prior knowledge works; SIGTERM during a stream of requests loses
//! no accepted request and the process exits 0 within the manifest's grace period.
//! (Read-only root filesystem and user 65532 are checked by tests/container/run.sh.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod support;

use support::{free_port, join_clients, sigterm, wait_exit, BIN, TIMEOUT};

const MANIFEST: &str = include_str!("../../knative/base/service.yaml");
const BODY: &str = r#"{"input":[5.1,3.5,1.4,0.2]}"#;

/// The value after `key:` on the first manifest line that has it (comments skipped).
fn manifest_value(key: &str) -> String {
    MANIFEST
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.trim_start_matches("- ")
                .strip_prefix(&format!("{key}:"))
        })
        .unwrap_or_else(|| panic!("the manifest has no {key}"))
        .trim()
        .trim_matches('"')
        .to_string()
}

/// The `path:` under `probe` (e.g. `readinessProbe`).
fn probe_path(probe: &str) -> String {
    let after = MANIFEST
        .split_once(&format!("{probe}:"))
        .unwrap_or_else(|| panic!("the manifest has no {probe}"))
        .1;
    after
        .lines()
        .find_map(|line| line.trim().strip_prefix("path:"))
        .expect("the probe has a path")
        .trim()
        .to_string()
}

/// The tests in this file take turns: each wants the manifest's port, and two servers
/// started at once would race for it (one would answer the other's readiness check).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Function {
    child: Child,
    addr: SocketAddr,
    /// Held until the server is killed (fields drop after `Drop::drop`).
    _turn: MutexGuard<'static, ()>,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary as Knative would, on the manifest's port when it is free, else
/// on a free one (a test machine may run something on 8080); returns once ready.
fn start_like_knative() -> Function {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let manifest_port: u16 = manifest_value("containerPort").parse().unwrap();
    let port = TcpListener::bind(("127.0.0.1", manifest_port))
        .map(|_| manifest_port)
        .unwrap_or_else(|_| free_port());
    let child = Command::new(BIN)
        .env_clear()
        .env("PORT", port.to_string())
        .env("K_SERVICE", "iris")
        .env("K_CONFIGURATION", "iris")
        .env("K_REVISION", "iris-00001")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut function = Function {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _turn: turn,
    };
    let ready = probe_path("readinessProbe");
    let deadline = Instant::now() + TIMEOUT;
    while get(function.addr, &ready, &[]).map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "not ready within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The answer must come from our process, not from something else on the port.
    assert!(
        function.child.try_wait().unwrap().is_none(),
        "the function exited"
    );
    function
}

/// One HTTP/1.1 request on a new connection; returns (status, body).
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    request(addr, "GET", path, headers, "")
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: iris.default.example.com\r\nconnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    stream
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

#[test]
fn manifest_probe_paths_answer_200_and_the_model_is_named_after_k_service() {
    let function = start_like_knative();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = probe_path(probe);
        assert_eq!(
            get(function.addr, &path, &[]).map(|r| r.0),
            Some(200),
            "{probe} {path}"
        );
    }
    let (_, ready) = get(function.addr, "/readyz", &[]).unwrap();
    assert!(ready.contains(r#""model":"iris""#), "{ready}");
}

#[test]
fn proxy_and_tracing_headers_are_accepted() {
    let function = start_like_knative();
    let headers = [
        ("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"),
        ("x-forwarded-for", "192.0.2.60, 10.0.0.1"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "iris.default.example.com"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("k-proxy-request", "activator"),
    ];
    let reply = request(function.addr, "POST", "/predict", &headers, BODY);
    assert_eq!(reply, Some((200, r#"{"prediction":[0]}"#.to_string())));
}

#[test]
fn h2c_prior_knowledge_is_spoken_on_the_same_port() {
    let function = start_like_knative();
    let mut stream = TcpStream::connect(function.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The HTTP/2 connection preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 4, "the server answers with a SETTINGS frame");
}

/// A client sending requests one after another on a keep-alive connection until told to
/// stop. Returns (answered, failures): a failure is a response that started and broke
/// off or was not 200; a connection refused or closed before any response byte is a
/// request the server never accepted, and the client reconnects.
fn client(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let (mut answered, mut failures) = (0, Vec::new());
    let request = format!(
        "POST /predict HTTP/1.1\r\nhost: iris\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    'connections: while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        while !stop.load(Ordering::Relaxed) {
            if writer.write_all(request.as_bytes()).is_err() {
                continue 'connections;
            }
            let mut status = String::new();
            match reader.read_line(&mut status) {
                Ok(0) | Err(_) => continue 'connections,
                Ok(_) => {}
            }
            let mut length = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    failures.push(format!("headers broke off after {status:?}"));
                    continue 'connections;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse::<usize>().ok();
                }
            }
            let mut body = vec![0; length.unwrap_or(0)];
            if reader.read_exact(&mut body).is_err() {
                failures.push(format!("body broke off after {status:?}"));
                continue 'connections;
            }
            if !status.starts_with("HTTP/1.1 200") || body != br#"{"prediction":[0]}"# {
                failures.push(format!("{status:?} {:?}", String::from_utf8_lossy(&body)));
            }
            answered += 1;
        }
    }
    (answered, failures)
}

#[test]
fn sigterm_during_a_stream_of_requests_loses_none_and_exits_0_in_the_grace_period() {
    let mut function = start_like_knative();
    let grace = Duration::from_secs(manifest_value("timeoutSeconds").parse().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (addr, stop) = (function.addr, Arc::clone(&stop));
            std::thread::spawn(move || client(addr, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&function.child);
    let exited = wait_exit(&mut function.child, grace).expect("exits within the grace period");
    stop.store(true, Ordering::Relaxed);
    let answered = join_clients(clients);
    assert_eq!(exited.code(), Some(0));
    assert!(
        answered > 100,
        "only {answered} requests were answered before SIGTERM"
    );
}
