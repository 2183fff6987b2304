//! Load and soak against the real binary: many connections send a mix of valid and
//! invalid requests; every valid one must get the answer the same rows got alone, every
//! invalid one its documented 4xx, none a 5xx, and the RSS must not grow once warm.
//! Then SIGTERM arrives mid-stream: every response started is complete, exit 0.

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::load::{self, join_clients};
use harness::process::{serving, Running};
use harness::raw::{self, read_response, Response};
use harness::TIMEOUT;
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

const CONNECTIONS: usize = 16;
const MAX_BATCH_ROWS: usize = 8;

/// The binary with a batch limit the menu exceeds, and a drain deadline shorter than
/// the test waits for the exit; returns once ready.
fn start() -> (Running, SocketAddr) {
    let (mut command, addr) = serving(BIN);
    command
        .args(["--max-batch-rows", &MAX_BATCH_ROWS.to_string()])
        .args(["--drain-timeout", "5"]);
    (Running::ready(&mut command, addr), addr)
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Rows spread over and beyond the Iris ranges (one decimal, so JSON round-trips them).
fn rows(count: usize) -> Vec<[f32; 4]> {
    let mut rng = Rng(0x5eed);
    (0..count)
        .map(|_| std::array::from_fn(|_| (rng.below(90) as f32) / 10.0))
        .collect()
}

/// One request on a kept-alive connection.
struct Exchange {
    request: Vec<u8>,
    /// What a correct answer is.
    expect: Expect,
}

enum Expect {
    /// 200 with exactly this JSON body.
    Body(Value),
    /// This 4xx with a JSON `error`.
    Error(u16),
}

/// A request with a body of `content_type`, for a kept-alive connection.
fn request(method: &str, path: &str, content_type: &str, body: &str) -> Vec<u8> {
    raw::request(method, path, &[("content-type", content_type)], body).into_bytes()
}

impl load::Exchange for Exchange {
    fn request(&self) -> &[u8] {
        &self.request
    }

    fn check(&self, response: &Response) -> Result<(), String> {
        let status = response.status;
        let text = String::from_utf8_lossy(&response.body);
        let json: Option<Value> = serde_json::from_slice(&response.body).ok();
        match &self.expect {
            Expect::Body(expected) if status == 200 && json.as_ref() == Some(expected) => Ok(()),
            Expect::Error(code)
                if status == *code && json.as_ref().is_some_and(|j| j["error"].is_string()) =>
            {
                Ok(())
            }
            Expect::Body(expected) => Err(format!("{status} {text}, not {expected}")),
            Expect::Error(code) => Err(format!("{status} {text}, not {code}")),
        }
    }

    /// After a 4xx other than 404 and 405 the server may not have read the whole body:
    /// start afresh.
    fn keeps_connection(&self, response: &Response) -> bool {
        !(response.status >= 400 && response.status != 404 && response.status != 405)
    }
}

/// Valid requests (batches of known rows, three protocols) and invalid ones.
fn menu(addr: SocketAddr) -> Vec<Exchange> {
    let rows = rows(40);
    // The answer for each row alone, asked once up front.
    let alone: Vec<(Value, Value)> = rows
        .iter()
        .map(|row| {
            let body = json!({ "input": row }).to_string();
            let request = request(
                "POST",
                "/predict?probabilities=true",
                "application/json",
                &body,
            );
            let mut stream = raw::connect(addr, TIMEOUT).unwrap();
            stream.write_all(&request).unwrap();
            let response = read_response(&mut BufReader::new(stream)).unwrap().unwrap();
            assert_eq!(response.status, 200);
            let answer: Value = serde_json::from_slice(&response.body).unwrap();
            (
                answer["prediction"][0].clone(),
                answer["probabilities"][0].clone(),
            )
        })
        .collect();
    let mut rng = Rng(7);
    let mut menu = Vec::new();
    for _ in 0..30 {
        let picked: Vec<usize> = (0..1 + rng.below(MAX_BATCH_ROWS))
            .map(|_| rng.below(rows.len()))
            .collect();
        let batch: Vec<[f32; 4]> = picked.iter().map(|&i| rows[i]).collect();
        let labels: Vec<Value> = picked.iter().map(|&i| alone[i].0.clone()).collect();
        let probabilities: Vec<Value> = picked.iter().map(|&i| alone[i].1.clone()).collect();
        let body = json!({ "input": batch }).to_string();
        menu.push(Exchange {
            request: request(
                "POST",
                "/predict?probabilities=true",
                "application/json",
                &body,
            ),
            expect: Expect::Body(json!({ "prediction": labels, "probabilities": probabilities })),
        });
        let body = json!({ "instances": batch }).to_string();
        menu.push(Exchange {
            request: request(
                "POST",
                "/v1/models/iris-forest:predict",
                "application/json",
                &body,
            ),
            expect: Expect::Body(json!({ "predictions": labels })),
        });
        let flat: Vec<f32> = batch.concat();
        let body = json!({"inputs": [{"name": "input", "shape": [batch.len(), 4], "datatype": "FP32", "data": flat}], "outputs": [{"name": "label"}]}).to_string();
        menu.push(Exchange {
            request: request("POST", "/v2/models/iris-forest/infer", "application/json", &body),
            expect: Expect::Body(json!({"model_name": "iris-forest", "model_version": "1", "outputs": [{"name": "label", "datatype": "INT64", "shape": [batch.len()], "data": labels}]})),
        });
    }
    let too_many = json!({ "input": vec![[1.0f32; 4]; MAX_BATCH_ROWS + 1] }).to_string();
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let invalid: [(&str, &str, &str, &str, u16); 10] = [
        ("POST", "/predict", "application/json", "{\"input\":", 400),
        (
            "POST",
            "/predict",
            "application/json",
            r#"{"input":[1,2,3]}"#,
            400,
        ),
        (
            "POST",
            "/predict",
            "application/json",
            r#"{"input":[1,NaN,3,4]}"#,
            400,
        ),
        (
            "POST",
            "/predict",
            "application/json",
            r#"{"input":[1,true,3,4]}"#,
            400,
        ),
        ("POST", "/predict", "application/json", &deep, 400),
        ("POST", "/predict", "application/json", &too_many, 413),
        (
            "POST",
            "/predict",
            "text/plain",
            r#"{"input":[1,2,3,4]}"#,
            415,
        ),
        ("GET", "/predict", "application/json", "", 405),
        ("GET", "/no/such/route", "application/json", "", 404),
        (
            "POST",
            "/v1/models/other:predict",
            "application/json",
            "{}",
            404,
        ),
    ];
    for (method, path, content_type, body, status) in invalid {
        // Weighted so that about a third of all requests are invalid.
        for _ in 0..3 {
            menu.push(Exchange {
                request: request(method, path, content_type, body),
                expect: Expect::Error(status),
            });
        }
    }
    menu
}

/// Runs `CONNECTIONS` clients of `per_client` requests each; panics on any failure.
fn load(addr: SocketAddr, menu: &Arc<Vec<Exchange>>, per_client: usize, round: u64) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CONNECTIONS as u64)
        .map(|i| {
            let (menu, stop) = (Arc::clone(menu), Arc::clone(&stop));
            std::thread::spawn(move || client(addr, &menu, round * 1000 + i + 1, per_client, &stop))
        })
        .collect();
    join_clients(clients)
}

/// A client sending `count` exchanges picked from `menu` by a generator seeded with
/// `seed` (so a failure can be replayed), or until `stop`.
fn client(
    addr: SocketAddr,
    menu: &[Exchange],
    seed: u64,
    count: usize,
    stop: &AtomicBool,
) -> (usize, Vec<String>) {
    let mut rng = Rng(seed);
    load::client(addr, count, stop, || &menu[rng.below(menu.len())])
}

#[test]
fn mixed_load_gets_right_answers_no_5xx_flat_memory_and_a_clean_drain() {
    let (mut server, addr) = start();
    let menu = Arc::new(menu(addr));

    assert_eq!(load(addr, &menu, 150, 1), CONNECTIONS * 150);
    let warm = rss_kib(server.id());
    for round in 2..5 {
        assert_eq!(load(addr, &menu, 150, round), CONNECTIONS * 150);
    }
    let after = rss_kib(server.id());
    eprintln!("RSS: {warm} KiB after warm-up, {after} KiB after 3x as many requests");
    // Three times the warm-up's requests again; allocator slack allowed, a leak is not.
    assert!(
        after <= warm + warm / 5 + 4096,
        "RSS grew from {warm} KiB after warm-up to {after} KiB"
    );

    // Drain under load: clients keep sending while SIGTERM arrives.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CONNECTIONS as u64)
        .map(|i| {
            let (menu, stop) = (Arc::clone(&menu), Arc::clone(&stop));
            std::thread::spawn(move || client(addr, &menu, 99 + i, usize::MAX, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    let exited = server
        .wait_exit(Duration::from_secs(6))
        .expect("drained in the grace period");
    stop.store(true, Ordering::Relaxed);
    let answered = join_clients(clients);
    assert_eq!(exited.code(), Some(0));
    assert!(answered > 0, "no request was answered before SIGTERM");
}
