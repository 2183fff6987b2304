//! The `function` binary as Kubernetes runs it: exit codes for bad configuration and bad
//! models, the port opened only once the model is loaded, and SIGTERM draining.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

use harness::process::{function, held_port, run, serving, stderr_lines, Running};
use harness::{raw, TIMEOUT};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

#[test]
fn missing_model_file_is_one_line_and_exit_1() {
    let output = run(function(BIN).args(["--model", "/nonexistent/model.onnx", "--port", "0"]));
    assert_one_line_failure(&output, "/nonexistent/model.onnx");
    let line = &stderr_lines(&output)[0];
    // The OS error once: the message does not repeat its cause.
    assert_eq!(line.matches("No such file").count(), 1, "{line}");
}

#[test]
fn a_file_that_is_not_onnx_is_refused_with_exit_1() {
    let path = std::env::temp_dir().join(format!("not-a-model-{}.onnx", std::process::id()));
    std::fs::write(&path, b"definitely not a protobuf").unwrap();
    let output = run(function(BIN).args(["--port", "0"]).env("MODEL_PATH", &path));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("not an ONNX model"), "{lines:?}");
}

/// Writes `bytes` to a temporary model file, runs the binary on it, removes the file.
fn run_with_model(name: &str, bytes: &[u8]) -> Output {
    let path = std::env::temp_dir().join(format!("{name}-{}.onnx", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let output = run(function(BIN)
        .args(["--host", "127.0.0.1", "--port", "0", "--model"])
        .arg(&path));
    std::fs::remove_file(&path).unwrap();
    output
}

/// A start-up failure: exit 1 and exactly one line on stderr, which contains `cause`.
fn assert_one_line_failure(output: &Output, cause: &str) {
    let lines = stderr_lines(output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(cause), "{lines:?}");
}

/// The bundled model as a protobuf, for tests that break it in one place.
fn bundled_proto() -> tract_onnx::pb::ModelProto {
    use prost::Message;
    tract_onnx::pb::ModelProto::decode(model::BUNDLED_MODEL).unwrap()
}

fn encode(proto: &tract_onnx::pb::ModelProto) -> Vec<u8> {
    prost::Message::encode_to_vec(proto)
}

#[test]
fn a_truncated_model_file_is_one_line_and_exit_1() {
    let bundled = model::BUNDLED_MODEL;
    let output = run_with_model("truncated", &bundled[..bundled.len() * 2 / 3]);
    assert_one_line_failure(&output, "not an ONNX model");
}

#[test]
fn a_model_with_an_unsupported_operator_is_one_line_and_exit_1() {
    // The input goes through an operator no runtime has before reaching the forest.
    let mut proto = bundled_proto();
    let graph = proto.graph.as_mut().unwrap();
    let input = graph.input[0].name.clone();
    graph.node.insert(
        0,
        tract_onnx::pb::NodeProto {
            op_type: "FrobnicateFeatures".into(),
            input: vec![input.clone()],
            output: vec!["frobnicated".into()],
            name: "frobnicate".into(),
            ..Default::default()
        },
    );
    for node in &mut graph.node[1..] {
        for name in &mut node.input {
            if *name == input {
                *name = "frobnicated".into();
            }
        }
    }
    let output = run_with_model("unsupported-op", &encode(&proto));
    assert_one_line_failure(
        &output,
        "operator \"FrobnicateFeatures\" (node \"frobnicate\") is not supported",
    );
}

#[test]
fn a_model_whose_input_is_not_a_2d_float_tensor_is_one_line_and_exit_1() {
    use tract_onnx::pb::{tensor_shape_proto::Dimension, type_proto};
    let mut proto = bundled_proto();
    let tensor = |proto: &mut tract_onnx::pb::ModelProto| {
        let input = &mut proto.graph.as_mut().unwrap().input[0];
        match input.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            Some(type_proto::Value::TensorType(tensor)) => tensor.clone(),
            _ => panic!("the bundled model's input is a tensor"),
        }
    };
    let set = |proto: &mut tract_onnx::pb::ModelProto, tensor| {
        let input = &mut proto.graph.as_mut().unwrap().input[0];
        input.r#type.as_mut().unwrap().value = Some(type_proto::Value::TensorType(tensor));
    };
    let mut three_d = tensor(&mut proto);
    three_d
        .shape
        .as_mut()
        .unwrap()
        .dim
        .push(Dimension::default());
    let mut doubles = tensor(&mut proto);
    doubles.elem_type = tract_onnx::pb::tensor_proto::DataType::Double as i32;
    set(&mut proto, three_d);
    let output = run_with_model("three-d-input", &encode(&proto));
    assert_one_line_failure(&output, "it has 3 dimensions");
    set(&mut proto, doubles);
    let output = run_with_model("double-input", &encode(&proto));
    assert_one_line_failure(&output, "its element type is DOUBLE");
}

#[test]
fn a_bad_port_is_a_usage_error() {
    let output = run(function(BIN).env("PORT", "http"));
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT=\"http\""));
    let output = run(function(BIN).args(["--port", "99999"]));
    assert_eq!(output.status.code(), Some(64));
}

#[test]
fn a_bad_flag_is_named_as_typed() {
    let output = run(function(BIN).args(["--max-batch-rows", "0"]));
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--max-batch-rows 0 is not valid"),
        "{stderr}"
    );
    assert!(!stderr.contains("MAX_BATCH_ROWS"), "{stderr}");
}

/// stderr is a pipe here, as in a container: plain text, no colour codes.
#[test]
fn a_bad_logging_variable_is_reported_without_colour_codes() {
    for (name, value) in [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")] {
        let output = run(function(BIN).env(name, value));
        assert_eq!(output.status.code(), Some(64), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("{name}=\"{value}\"")), "{stderr}");
        assert!(!stderr.contains('\x1b'), "{stderr:?}");
    }
}

#[test]
fn a_port_in_use_is_a_startup_failure() {
    let (_taken, port) = held_port();
    let output = run(function(BIN).args(["--host", "127.0.0.1", "--port", &port.to_string()]));
    assert_one_line_failure(&output, "cannot listen on");
    assert!(stderr_lines(&output)[0].contains("in use"), "{output:?}");
}

#[test]
fn help_explains_the_model_and_port_settings() {
    let output = run(function(BIN).arg("--help"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--model",
        "MODEL_PATH",
        "PORT",
        "8080",
        "/predict",
        "--shutdown-delay",
        "SHUTDOWN_DELAY_SECONDS",
    ] {
        assert!(help.contains(needle), "--help does not mention {needle}");
    }
    // What no flag covers is in the footer: the logging variables and the exit codes.
    for needle in ["LOG_FORMAT", "LOG_LEVEL", "RUST_LOG", "Exit codes", "64 "] {
        assert!(help.contains(needle), "--help does not mention {needle}");
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let (mut command, addr) = serving(BIN);
    let mut server = Running::ready(&mut command, addr);
    let body = br#"{"input":[5.1,3.5,1.4,0.2]}"#;
    let mut stream = raw::connect(addr, TIMEOUT).unwrap();
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    // The listener is closed: new connections are refused while the old one drains.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    stream.write_all(&body[5..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"prediction":[0]}"#), "{response}");
    let status = server.wait_exit(TIMEOUT).expect("exits after draining");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_when_idle_exits_0_promptly() {
    let (mut command, addr) = serving(BIN);
    let mut server = Running::ready(&mut command, addr);
    server.sigterm();
    let status = server
        .wait_exit(Duration::from_secs(2))
        .expect("exits promptly");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_while_the_model_loads_exits_0_promptly() {
    // A FIFO nobody writes to: reading the model blocks until the process ends.
    let fifo = std::env::temp_dir().join(format!("model-fifo-{}.onnx", std::process::id()));
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Running::spawn(
        function(BIN)
            .args(["--host", "127.0.0.1", "--port", "0", "--model"])
            .arg(&fifo),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.exited().is_none(), "still loading");
    child.sigterm();
    let status = child.wait_exit(Duration::from_secs(3));
    drop(child);
    std::fs::remove_file(&fifo).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}
