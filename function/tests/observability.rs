//! The binary's logs and metrics switch as Knative runs it: JSON lines carrying the
//! revision and the request id, one start-up line with the model summary, and
//! `--no-metrics` / `METRICS=off` turning `/metrics` off.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

mod support;

use support::{free_port, http, sigterm, wait_ready, BIN};

/// Starts the binary with `args` and `env`, stderr piped, and waits until it answers.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        .env_remove("MODEL_PATH")
        .env_remove("RUST_LOG")
        .env_remove("LOG_LEVEL")
        .env_remove("LOG_FORMAT")
        .env_remove("METRICS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_ready(addr);
    (child, addr)
}

/// SIGTERM, then everything the process wrote to stderr.
fn stop(mut child: Child) -> String {
    sigterm(&child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success());
    stderr
}

#[test]
fn json_logs_carry_the_revision_and_the_request_id() {
    let (child, addr) = start(
        &[],
        &[
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "debug"),
            ("K_SERVICE", "iris"),
            ("K_REVISION", "iris-00007"),
        ],
    );
    let body = r#"{"input":[5.1,3.5,1.4,0.2]}"#;
    let response = http(
        addr,
        &format!(
            "POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
             x-request-id: req-77\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-request-id: req-77"),
        "{response}"
    );
    let stderr = stop(child);

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert_eq!(line["k_revision"], "iris-00007", "{line}");
        assert_eq!(line["k_service"], "iris", "{line}");
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
    }
    let serving: Vec<_> = lines.iter().filter(|l| l["message"] == "serving").collect();
    assert_eq!(serving.len(), 1, "one start-up line: {stderr}");
    assert_eq!(serving[0]["operator"], "TreeEnsembleClassifier");
    assert_eq!(serving[0]["features"], 4);
    assert!(serving[0]["trees"].as_u64().unwrap() > 0);
    assert!(serving[0]["load_ms"].as_f64().unwrap() > 0.0);
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["request_id"] == "req-77")
        .unwrap_or_else(|| panic!("no request line for req-77: {stderr}"));
    assert_eq!(request["method"], "POST");
    assert_eq!(request["route"], "/predict");
    assert_eq!(request["status"], 200);
    assert!(request["latency_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn text_logs_at_info_have_no_request_lines() {
    let (child, addr) = start(&[], &[]);
    http(
        addr,
        "GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let stderr = stop(child);
    assert!(stderr.contains("serving"), "{stderr}");
    assert!(!stderr.trim_start().starts_with('{'), "{stderr}");
    assert!(!stderr.contains("request_id"), "{stderr}");
}

#[test]
fn metrics_can_be_turned_off() {
    for (args, env) in [
        (&["--no-metrics"][..], &[][..]),
        (&[][..], &[("METRICS", "off")][..]),
    ] {
        let (child, addr) = start(args, env);
        let response = http(
            addr,
            "GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        stop(child);
    }
    let (child, addr) = start(&[], &[]);
    let response = http(
        addr,
        "GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("model_info{"), "{response}");
    stop(child);
}

#[test]
fn a_bad_log_format_is_a_usage_error() {
    let output = Command::new(BIN)
        .env("LOG_FORMAT", "xml")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("LOG_FORMAT=\"xml\""));
}
