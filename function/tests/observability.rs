//! The binary's logs and metrics switch as Knative runs it: JSON lines carrying the
//! revision and the request id, one start-up line with the model summary, and
//! `--no-metrics` / `METRICS=off` turning `/metrics` off.

use std::net::SocketAddr;
use std::process::Stdio;

use harness::process::{function, run, serving, Running};
use harness::raw::{call, get};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

/// Starts the binary with `args` and `env`, stderr piped, and waits until it answers.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Running, SocketAddr) {
    let (mut command, addr) = serving(BIN);
    command
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped());
    (Running::ready(&mut command, addr), addr)
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
    let headers = [
        ("content-type", "application/json"),
        ("x-request-id", "req-77"),
    ];
    let response = call(addr, "POST", "/predict", &headers, body).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-request-id: req-77"),
        "{response}"
    );
    let stderr = child.stop();

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
    get(addr, "/healthz").unwrap();
    let stderr = child.stop();
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
        let response = get(addr, "/metrics").unwrap();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        child.stop();
    }
    let (child, addr) = start(&[], &[]);
    let response = get(addr, "/metrics").unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("model_info{"), "{response}");
    child.stop();
}

#[test]
fn a_bad_log_format_is_a_usage_error() {
    let output = run(function(BIN).env("LOG_FORMAT", "xml"));
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("LOG_FORMAT=\"xml\""));
}
