//! The shutdown delay, against the real binary: at SIGTERM every readiness route of
//! every protocol answers 503 at once, predictions and liveness still answer 200 on new
//! connections for the delay, then the drain runs and the process exits 0.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::process::{serving, Running};
use harness::raw::{call, status_and_body};
use harness::TIMEOUT;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

/// The name the test serves the model under.
const MODEL: &str = "iris";

/// Every readiness route: Kubernetes', Knative Functions', KServe V1's and the Open
/// Inference Protocol's, server and model.
const READINESS: [&str; 6] = [
    "/readyz",
    "/health/readiness",
    "/v1/models/iris",
    "/v2/health/ready",
    "/v2/models/iris/ready",
    "/v2/models/iris/versions/1/ready",
];

/// `method path` on a new connection: (status, body), `None` when refused.
fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let headers = [("content-type", "application/json")];
    status_and_body(&call(addr, method, path, &headers, body)?)
}

fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    send(addr, "GET", path, "").map(|(status, _)| status)
}

fn predict(addr: SocketAddr) -> Option<(u16, String)> {
    send(addr, "POST", "/predict", r#"{"input":[5.1,3.5,1.4,0.2]}"#)
}

#[test]
fn sigterm_fails_readiness_at_once_serves_for_the_delay_then_exits_0() {
    let delay = Duration::from_secs(3);
    let drain = Duration::from_secs(2);
    let (mut command, addr) = serving(BIN);
    command.args(["--model-name", MODEL, "--drain-timeout", "2"]);
    command.env("SHUTDOWN_DELAY_SECONDS", delay.as_secs().to_string());
    let mut server = Running::ready(&mut command, addr);
    for path in READINESS {
        assert_eq!(status(addr, path), Some(200), "{path} before SIGTERM");
    }
    let before = predict(addr).expect("a prediction before SIGTERM");

    server.sigterm();
    let signalled = Instant::now();
    // The handler runs on its own task: poll until the first route flips, then every
    // route must say 503 while the delay has not run out.
    while status(addr, "/readyz") == Some(200) {
        assert!(
            signalled.elapsed() < delay,
            "/readyz still 200 after the delay"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for path in READINESS {
        let (status, body) = send(addr, "GET", path, "").expect("still accepting");
        assert_eq!(status, 503, "{path} after SIGTERM: {body}");
        assert!(!body.contains("true"), "{path} says ready: {body}");
    }
    assert_eq!(status(addr, "/healthz"), Some(200), "liveness stays 200");
    // New connections, routed here before the endpoints caught up, are still answered.
    assert_eq!(predict(addr), Some(before), "prediction during the delay");
    assert!(
        signalled.elapsed() < delay,
        "the checks above outlasted the delay; the test proves nothing"
    );
    assert!(server.exited().is_none(), "exited during the delay");

    let status = server
        .wait_exit(delay + drain + TIMEOUT)
        .expect("exits after the delay and the drain");
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() >= delay,
        "exited before the shutdown delay ran out"
    );
}

#[test]
fn sigint_skips_the_delay() {
    let (mut command, addr) = serving(BIN);
    command.env("SHUTDOWN_DELAY_SECONDS", "60");
    let mut server = Running::ready(&mut command, addr);
    let kill = std::process::Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server
        .wait_exit(TIMEOUT)
        .expect("exits without waiting out the 60 s delay");
    assert_eq!(status.code(), Some(0));
}
