//! The memory budget against the real binary: a burst of concurrent big batches, each
//! within the body and batch limits, is answered 200 or 503 + `Retry-After` and nothing
//! else, every 200 is the answer the rows get alone, and the peak resident memory stays
//! within the budget plus the idle process plus a stated margin. A body larger than the
//! whole budget is refused with 413 at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};

use harness::process::{serving, Running};
use harness::{raw, TIMEOUT};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");

const MIB: u64 = 1024 * 1024;
/// The budget under test: a small share of what the burst would take unbounded.
const BUDGET: u64 = 48 * MIB;
/// Clients sending at once.
const CLIENTS: usize = 160;
/// Rows per batch: under the default 10000, about 2 MB of JSON with long numbers.
const ROWS: usize = 8000;
/// What the process may hold beyond the budget and its idle size: what the budget does
/// not charge (a read buffer of up to 64 KiB per connection, the tasks draining refused
/// bodies, the answers being written, worker and blocking thread stacks) and the
/// allocator's slack. A quarter of what the same burst takes without a budget.
const MARGIN: u64 = 48 * MIB;

/// Distinct rows over and beyond the Iris ranges (one decimal).
fn distinct_rows() -> Vec<[f32; 4]> {
    (0..40u32)
        .map(|i| std::array::from_fn(|j| ((i * 7 + j as u32 * 13) % 80) as f32 / 10.0))
        .collect()
}

/// A `/predict?probabilities=true` request for `rows`, each number written with
/// `decimals` decimals (as a client printing doubles at full precision might): a big
/// body that still decodes to the same `f32`s.
fn big_request(rows: &[[f32; 4]], decimals: usize) -> Vec<u8> {
    let mut body = String::with_capacity(rows.len() * (4 * decimals + 16) + 16);
    body.push_str(r#"{"input":["#);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let numbers: Vec<String> = row
            .iter()
            .map(|v| format!("{:.decimals$}", *v as f64))
            .collect();
        body.push('[');
        body.push_str(&numbers.join(","));
        body.push(']');
    }
    body.push_str("]}");
    let mut request = format!(
        "POST /predict?probabilities=true HTTP/1.1\r\nhost: test\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

/// A response: status, `Retry-After` if any, body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

/// Sends `request` on a new connection and reads the answer (`Err` if the connection
/// broke before a whole one arrived).
fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Answer, String> {
    let mut stream = raw::connect(addr, TIMEOUT).ok_or_else(|| "no connection".to_string())?;
    stream.set_read_timeout(Some(TIMEOUT * 3)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT * 3)).unwrap();
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("status line: {e}"))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let (mut length, mut retry_after) = (0, None);
    loop {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| format!("headers: {e}"))?;
        if header == "\r\n" || header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "retry-after" => retry_after = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("body: {e}"))?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// A `/proc/PID/status` figure in bytes (`VmRSS:`, `VmHWM:`).
fn status_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The value of an unlabelled sample in `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, text) = raw::status_and_body(&raw::get(addr, "/metrics").unwrap()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .parse()
        .unwrap()
}

/// The answer each of `rows` gets alone, as `(prediction, probabilities)`.
fn answers_alone(addr: SocketAddr, rows: &[[f32; 4]]) -> Vec<(Value, Value)> {
    rows.iter()
        .map(|row| {
            let request = raw::request(
                "POST",
                "/predict?probabilities=true",
                &[("content-type", "application/json")],
                &json!({ "input": row }).to_string(),
            );
            let answer = exchange(addr, request.as_bytes()).unwrap();
            assert_eq!(answer.status, 200);
            let json: Value = serde_json::from_slice(&answer.body).unwrap();
            (
                json["prediction"][0].clone(),
                json["probabilities"][0].clone(),
            )
        })
        .collect()
}

/// Four different batches of `rows` rows picked from `distinct`, numbers written with
/// `decimals` decimals, each with the answer its rows get alone.
fn batches(
    distinct: &[[f32; 4]],
    alone: &[(Value, Value)],
    rows: usize,
    decimals: usize,
) -> Arc<Vec<(Vec<u8>, Value)>> {
    let batches = (0..4)
        .map(|shift| {
            let picked: Vec<usize> = (0..rows)
                .map(|i| (i * 3 + shift) % distinct.len())
                .collect();
            let batch: Vec<[f32; 4]> = picked.iter().map(|&i| distinct[i]).collect();
            let expected = json!({
                "prediction": picked.iter().map(|&i| alone[i].0.clone()).collect::<Vec<_>>(),
                "probabilities": picked.iter().map(|&i| alone[i].1.clone()).collect::<Vec<_>>(),
            });
            (big_request(&batch, decimals), expected)
        })
        .collect();
    Arc::new(batches)
}

/// `clients` clients, started together, each sending one of `batches` on a connection of
/// its own: their statuses, or the first client that got anything but a right 200 or a
/// 503 with `Retry-After: 1`.
fn burst(
    addr: SocketAddr,
    batches: &Arc<Vec<(Vec<u8>, Value)>>,
    clients: usize,
) -> Result<Vec<u16>, String> {
    let start = Arc::new(Barrier::new(clients));
    let clients: Vec<_> = (0..clients)
        .map(|i| {
            let (batches, start) = (Arc::clone(batches), Arc::clone(&start));
            std::thread::spawn(move || {
                let (request, expected) = &batches[i % batches.len()];
                start.wait();
                let answer = exchange(addr, request).map_err(|e| format!("client {i}: {e}"))?;
                match answer.status {
                    200 => {
                        let json: Value = serde_json::from_slice(&answer.body)
                            .map_err(|e| format!("client {i}: 200 but not JSON: {e}"))?;
                        if json != *expected {
                            return Err(format!("client {i}: a 200 with a wrong answer"));
                        }
                    }
                    503 if answer.retry_after.as_deref() == Some("1") => {}
                    status => {
                        return Err(format!(
                            "client {i}: {status} (Retry-After {:?}) {}",
                            answer.retry_after,
                            String::from_utf8_lossy(&answer.body)
                        ))
                    }
                }
                Ok(answer.status)
            })
        })
        .collect();
    clients
        .into_iter()
        .map(|client| client.join().unwrap())
        .collect()
}

#[test]
fn a_burst_of_big_batches_gets_200_or_503_right_answers_and_bounded_memory() {
    let (mut command, addr) = serving(BIN);
    command.args(["--max-in-flight-bytes", &BUDGET.to_string()]);
    let server = Running::ready(&mut command, addr);

    // The answer each distinct row gets alone, which is also the warm-up.
    let distinct = distinct_rows();
    let alone = answers_alone(addr, &distinct);
    let idle = status_bytes(server.id(), "VmRSS:");

    let batches = batches(&distinct, &alone, ROWS, 60);
    let body_bytes = batches[0].0.len() as u64;
    assert!(body_bytes < 4 * MIB, "within the default body limit");
    let statuses = burst(addr, &batches, CLIENTS).unwrap_or_else(|failure| panic!("{failure}"));
    let peak = status_bytes(server.id(), "VmHWM:");
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.len() - ok;
    eprintln!(
        "{CLIENTS} clients, {body_bytes} B bodies, budget {} MiB: {ok} x 200, {refused} x 503; \
         RSS idle {} MiB, peak {} MiB",
        BUDGET / MIB,
        idle / MIB,
        peak / MIB
    );
    assert!(ok > 0, "no batch was answered");
    assert!(
        refused > 0,
        "the burst ({CLIENTS} x {body_bytes} B) never met the budget"
    );
    assert!(
        peak <= idle + BUDGET + MARGIN,
        "peak RSS {} MiB over idle {} MiB + budget {} MiB + margin {} MiB",
        peak / MIB,
        idle / MIB,
        BUDGET / MIB,
        MARGIN / MIB
    );
    // Everything held was given back, and the refusals were counted.
    assert_eq!(metric(addr, "http_requests_in_flight_bytes"), 0.0);
    assert_eq!(
        metric(addr, "http_requests_in_flight_bytes_max"),
        BUDGET as f64
    );
    assert_eq!(
        metric(addr, "http_requests_memory_refused_total"),
        refused as f64
    );
    server.stop();
}

#[test]
fn a_body_larger_than_the_whole_budget_gets_413_at_once() {
    let (mut command, addr) = serving(BIN);
    command.args(["--max-in-flight-bytes", &MIB.to_string()]);
    let server = Running::ready(&mut command, addr);
    let rows = vec![[5.1f32, 3.5, 1.4, 0.2]; 6000];
    let answer = exchange(addr, &big_request(&rows, 60)).unwrap();
    assert_eq!(answer.status, 413);
    let error: Value = serde_json::from_slice(&answer.body).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("more than the function's whole budget of 1048576 bytes"),
        "{message}"
    );
    // A small request still fits.
    let small = raw::request(
        "POST",
        "/predict",
        &[("content-type", "application/json")],
        r#"{"input":[5.1,3.5,1.4,0.2]}"#,
    );
    assert_eq!(exchange(addr, small.as_bytes()).unwrap().status, 200);
    server.stop();
}

#[test]
fn a_chunked_body_is_charged_as_it_arrives() {
    let (mut command, addr) = serving(BIN);
    command.args(["--max-in-flight-bytes", "100000"]);
    let server = Running::ready(&mut command, addr);
    // No Content-Length: nothing is reserved up front, the body is charged as it grows.
    let row = "[5.1,3.5,1.4,0.2],";
    let chunk = row.repeat(1000);
    let mut request = "POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                       transfer-encoding: chunked\r\n\r\n"
        .to_string();
    let first = format!("{{\"input\":[{chunk}");
    request.push_str(&format!("{:x}\r\n{first}\r\n", first.len()));
    for _ in 0..8 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    let last = "[5.1,3.5,1.4,0.2]]}";
    request.push_str(&format!("{:x}\r\n{last}\r\n0\r\n\r\n", last.len()));
    let answer = exchange(addr, request.as_bytes()).unwrap();
    assert_eq!(answer.status, 413);
    let error: Value = serde_json::from_slice(&answer.body).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("whole budget of 100000 bytes"),
        "{message}"
    );
    assert_eq!(metric(addr, "http_requests_in_flight_bytes"), 0.0);
    server.stop();
}

#[test]
fn explanations_are_charged_before_they_are_built() {
    let (mut command, addr) = serving(BIN);
    command.args(["--max-in-flight-bytes", &MIB.to_string()]);
    let server = Running::ready(&mut command, addr);
    // The body and its batch fit in 1 MiB; 9000 rows of SHAP values would not.
    let rows = vec!["[5.1,3.5,1.4,0.2]"; 9000].join(",");
    let body = format!(r#"{{"input":[{rows}]}}"#);
    let request = |path| raw::request("POST", path, &[("content-type", "application/json")], &body);
    let predicted = exchange(addr, request("/predict").as_bytes()).unwrap();
    assert_eq!(predicted.status, 200);
    let explained = exchange(addr, request("/predict?explain=true").as_bytes()).unwrap();
    assert_eq!(explained.status, 413);
    let error: Value = serde_json::from_slice(&explained.body).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("whole budget of 1048576 bytes"),
        "{message}"
    );
    server.stop();
}

/// The peak resident memory of a fresh server under one burst, for BENCHMARKS.md ("Memory
/// under a burst"): body sizes x concurrency, with no budget (1 TiB) and with budgets.
/// Measures the binary at `FUNCTION_BIN` (the release build), else the test's own; with
/// `FUNCTION_BIN_HAS_NO_BUDGET` set, a binary from before the budget (no budget rows):
/// `cargo build --release -p function && FUNCTION_BIN=target/release/function \
/// cargo test -p function --test memory_budget -- --ignored --nocapture`
#[test]
#[ignore = "a measurement for BENCHMARKS.md, not a test"]
fn peak_rss_by_body_size_and_concurrency() {
    let bin = std::env::var("FUNCTION_BIN").unwrap_or_else(|_| BIN.to_string());
    // A binary from before the budget: no flag to pass, and no budget to vary.
    let before = std::env::var_os("FUNCTION_BIN_HAS_NO_BUDGET").is_some();
    let budgets: &[u64] = if before {
        &[1 << 40]
    } else {
        &[1 << 40, 256 * MIB, 64 * MIB]
    };
    let distinct = distinct_rows();
    println!("| budget | body | clients | 200 | 503 | idle RSS | peak RSS (VmHWM) | burst |");
    println!("|---|---|---|---|---|---|---|---|");
    for &budget in budgets {
        for decimals in [10, 45, 90] {
            for clients in [50, 100, 300] {
                let (mut command, addr) = serving(&bin);
                if !before {
                    command.args(["--max-in-flight-bytes", &budget.to_string()]);
                }
                let server = Running::ready(&mut command, addr);
                let alone = answers_alone(addr, &distinct);
                let batches = batches(&distinct, &alone, 10_000, decimals);
                let idle = status_bytes(server.id(), "VmRSS:");
                let started = std::time::Instant::now();
                let statuses = burst(addr, &batches, clients).unwrap();
                let took = started.elapsed();
                let peak = status_bytes(server.id(), "VmHWM:");
                let ok = statuses.iter().filter(|&&s| s == 200).count();
                let budget = if budget >= 1 << 40 {
                    "none".to_string()
                } else {
                    format!("{} MiB", budget / MIB)
                };
                println!(
                    "| {budget} | {:.1} MB | {clients} | {ok} | {} | {:.1} MB | {:.0} MB | {:.2} s |",
                    batches[0].0.len() as f64 / 1e6,
                    clients - ok,
                    idle as f64 / 1e6,
                    peak as f64 / 1e6,
                    took.as_secs_f64()
                );
                server.stop();
            }
        }
    }
}
