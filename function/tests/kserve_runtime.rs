//! The KServe runtime contract, against the real binary started the way
//! knative/kserve/servingruntime.yaml tells KServe to start it: the container's `args`
//! as written, with `{{.Name}}` the InferenceService's name, `/mnt/models` a directory
//! holding one `.onnx` file as the storage initializer leaves it, and the port moved
//! only when the manifest's is taken. V1 and V2 readiness answer 200 and the three
//! protocols predict the same classes; a directory with two models is refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use harness::process::{self, free_port, free_port_or, localhost, run, wait_ready, Running};
use harness::raw::{call, status_and_body};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

const RUNTIME: &str = include_str!("../../knative/kserve/servingruntime.yaml");
/// The InferenceService name KServe substitutes for `{{.Name}}`.
const ISVC: &str = "iris";
/// Where the storage initializer puts the model, as the manifest's args say.
const MODEL_DIR: &str = "/mnt/models";
/// The bundled forest's source file.
const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/iris-forest.onnx");

const ROWS: [[f32; 4]; 3] = [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 4.2, 1.5],
];

/// The `args:` list of the runtime's container, as written (comments skipped).
fn manifest_args() -> Vec<String> {
    let mut lines = RUNTIME
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'));
    lines
        .by_ref()
        .find(|line| *line == "args:")
        .expect("the container has args");
    lines
        .map_while(|line| line.strip_prefix("- "))
        .map(|arg| arg.trim_matches('"').to_string())
        .collect()
}

/// The manifest's args with KServe's substitutions, the model directory at `dir` and
/// the port `port` makes of the manifest's.
fn args_as_kserve_runs_them(dir: &Path, port: impl Fn(u16) -> u16) -> Vec<String> {
    manifest_args()
        .into_iter()
        .map(|arg| {
            let arg = arg.replace("{{.Name}}", ISVC);
            let arg = arg.replace(MODEL_DIR, &dir.display().to_string());
            match arg.strip_prefix("--port=") {
                Some(wanted) => format!("--port={}", port(wanted.parse().unwrap())),
                None => arg,
            }
        })
        .collect()
}

/// A fresh directory holding `files`, each a copy of the bundled forest.
fn model_directory(test: &str, files: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kserve-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in files {
        std::fs::copy(MODEL, dir.join(file)).unwrap();
    }
    dir
}

fn send(addr: SocketAddr, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let headers = [("content-type", "application/json")];
    let response = call(addr, method, path, &headers, &body).expect("an answer");
    let (status, body) = status_and_body(&response).expect("a whole response");
    let parsed = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"));
    (status, parsed)
}

#[test]
fn the_runtime_args_serve_the_model_directory_over_v1_and_v2() {
    let dir = model_directory("serve", &["model.onnx"]);
    let args = args_as_kserve_runs_them(&dir, free_port_or);
    let port = args
        .iter()
        .find_map(|arg| arg.strip_prefix("--port="))
        .expect("the args set the port")
        .parse()
        .unwrap();
    let addr = localhost(port);
    // KServe passes nothing else: the container's environment is the manifest's.
    let _server = Running::spawn(
        process::function(BIN)
            .env_clear()
            .args(&args)
            .env("RUST_LOG", "info")
            .current_dir("/"),
    );
    wait_ready(addr, "/v2/health/ready");
    std::fs::remove_dir_all(&dir).unwrap();

    let null = Value::Null;
    let (status, v1_ready) = send(addr, "GET", &format!("/v1/models/{ISVC}"), &null);
    assert_eq!(
        (status, &v1_ready),
        (200, &json!({"name": ISVC, "ready": true}))
    );
    let (status, v2_ready) = send(addr, "GET", &format!("/v2/models/{ISVC}/ready"), &null);
    assert_eq!((status, v2_ready["ready"].clone()), (200, json!(true)));

    let (status, seed) = send(addr, "POST", "/predict", &json!({ "input": ROWS }));
    assert_eq!(status, 200, "{seed}");
    let (status, v1) = send(
        addr,
        "POST",
        &format!("/v1/models/{ISVC}:predict"),
        &json!({ "instances": ROWS }),
    );
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["predictions"], seed["prediction"]);

    let (_, metadata) = send(addr, "GET", &format!("/v2/models/{ISVC}"), &null);
    let input = &metadata["inputs"][0];
    let request = json!({ "inputs": [{
        "name": input["name"],
        "shape": [ROWS.len(), ROWS[0].len()],
        "datatype": input["datatype"],
        "data": ROWS.concat(),
    }]});
    let (status, v2) = send(addr, "POST", &format!("/v2/models/{ISVC}/infer"), &request);
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["model_name"], json!(ISVC));
    // The label output holds the same classes the other protocols answered.
    let labels = v2["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|output| output["shape"] == json!([ROWS.len()]))
        .unwrap_or_else(|| panic!("no per-row output in {v2}"));
    assert_eq!(labels["data"], seed["prediction"]);
}

#[test]
fn a_model_directory_with_two_onnx_files_is_refused_naming_both() {
    let dir = model_directory("two", &["a.onnx", "b.onnx"]);
    let args = args_as_kserve_runs_them(&dir, |_| free_port());
    let output = run(process::function(BIN).env_clear().args(&args));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a.onnx, b.onnx"), "{stderr}");
}
