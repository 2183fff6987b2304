//! The Knative runtime contract, against the real binary started the way Knative starts
//! it: `PORT` from the Service manifest, the `K_*` variables set, stdin closed, working
//! directory `/`. The probe paths in the manifest answer 200; proxy and tracing headers
//! are accepted; h2c prior knowledge works; SIGTERM during a stream of requests loses
//! no accepted request and the process exits 0 within the manifest's grace period.
//! (Read-only root filesystem and user 65532 are checked by tests/container/run.sh.)

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use harness::load::{self, join_clients, Exchange};
use harness::process::{self, free_port_or, localhost, wait_ready, Running};
use harness::raw::{self, call, status_and_body, Response};
use harness::TIMEOUT;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

const MANIFEST: &str = include_str!("../../knative/base/service.yaml");
const BODY: &str = r#"{"input":[5.1,3.5,1.4,0.2]}"#;
/// The `host` Knative's ingress sends the service's requests with.
const HOST: (&str, &str) = ("host", "iris.default.example.com");

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

/// The function started like Knative does, killed when dropped.
struct Function {
    server: Running,
    addr: SocketAddr,
    /// Held until the server is killed (fields drop in order, `server` first).
    _turn: MutexGuard<'static, ()>,
}

/// Starts the binary as Knative would, on the manifest's port when it is free, else
/// on a free one (a test machine may run something on 8080); returns once ready.
fn start_like_knative() -> Function {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let port = free_port_or(manifest_value("containerPort").parse().unwrap());
    let mut function = Function {
        server: Running::spawn(
            process::function(BIN)
                .env_clear()
                .env("PORT", port.to_string())
                .env("K_SERVICE", "iris")
                .env("K_CONFIGURATION", "iris")
                .env("K_REVISION", "iris-00001")
                .current_dir("/"),
        ),
        addr: localhost(port),
        _turn: turn,
    };
    wait_ready(function.addr, &probe_path("readinessProbe"));
    // The answer must come from our process, not from something else on the port.
    assert!(function.server.exited().is_none(), "the function exited");
    function
}

/// `GET path` as Knative's ingress sends it: (status, body).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    status_and_body(&call(addr, "GET", path, &[HOST], "")?)
}

#[test]
fn manifest_probe_paths_answer_200_and_the_model_is_named_after_k_service() {
    let function = start_like_knative();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = probe_path(probe);
        assert_eq!(
            get(function.addr, &path).map(|r| r.0),
            Some(200),
            "{probe} {path}"
        );
    }
    let (_, ready) = get(function.addr, "/readyz").unwrap();
    assert!(ready.contains(r#""model":"iris""#), "{ready}");
}

#[test]
fn proxy_and_tracing_headers_are_accepted() {
    let function = start_like_knative();
    let headers = [
        HOST,
        ("content-type", "application/json"),
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
    let reply = call(function.addr, "POST", "/predict", &headers, BODY)
        .and_then(|response| status_and_body(&response));
    assert_eq!(reply, Some((200, r#"{"prediction":[0]}"#.to_string())));
}

#[test]
fn h2c_prior_knowledge_is_spoken_on_the_same_port() {
    let function = start_like_knative();
    let mut stream = raw::connect(function.addr, TIMEOUT).unwrap();
    // The HTTP/2 connection preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 4, "the server answers with a SETTINGS frame");
}

/// `POST /predict` with [`BODY`] on a kept-alive connection; the answer is class 0.
struct Predict(String);

impl Predict {
    fn new() -> Predict {
        let headers = [HOST, ("content-type", "application/json")];
        Predict(raw::request("POST", "/predict", &headers, BODY))
    }
}

impl Exchange for Predict {
    fn request(&self) -> &[u8] {
        self.0.as_bytes()
    }

    fn check(&self, response: &Response) -> Result<(), String> {
        if response.status_line.starts_with("HTTP/1.1 200")
            && response.body == br#"{"prediction":[0]}"#
        {
            return Ok(());
        }
        let body = String::from_utf8_lossy(&response.body);
        Err(format!("{:?} {body:?}", response.status_line))
    }
}

#[test]
fn sigterm_during_a_stream_of_requests_loses_none_and_exits_0_in_the_grace_period() {
    let mut function = start_like_knative();
    let grace = Duration::from_secs(manifest_value("timeoutSeconds").parse().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (addr, stop) = (function.addr, Arc::clone(&stop));
            std::thread::spawn(move || {
                let predict = Predict::new();
                load::client(addr, usize::MAX, &stop, || &predict)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    function.server.sigterm();
    let exited = function
        .server
        .wait_exit(grace)
        .expect("exits within the grace period");
    stop.store(true, Ordering::Relaxed);
    let answered = join_clients(clients);
    assert_eq!(exited.code(), Some(0));
    assert!(
        answered > 100,
        "only {answered} requests were answered before SIGTERM"
    );
}
