//! Observability over real HTTP: `/metrics` counts exactly the requests sent, by route
//! and status class; the request id is echoed; and every metric the Grafana dashboard in
//! knative/monitoring queries is one the function exports.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use harness::client::{bodiless, post_json, send, send_h2c};
use harness::server::TestServer;
use hyper::{Method, StatusCode};

const ROW: &str = "[5.1,3.5,1.4,0.2]";

/// Every sample of a scrape: `name{labels}` as written -> value.
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let reply = send(addr, bodiless(addr, Method::GET, "/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    reply
        .text()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// How much `series` grew between two scrapes (a series not yet created counts as 0).
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn requests(route: &str, protocol: &str, class: &str) -> String {
    format!(r#"http_requests_total{{route="{route}",protocol="{protocol}",code_class="{class}"}}"#)
}

fn durations(route: &str, protocol: &str) -> String {
    format!(r#"http_request_duration_seconds_count{{route="{route}",protocol="{protocol}"}}"#)
}

#[tokio::test]
async fn counters_move_by_exactly_the_requests_sent() {
    let server = TestServer::bundled().await;
    let addr = server.addr;
    let before = scrape(addr).await;

    // /predict: 4 answered (one of them a batch of 3 rows, one over h2c), 3 refused.
    for body in [
        format!(r#"{{"input":{ROW}}}"#),
        format!(r#"{{"input":[{ROW},{ROW},{ROW}]}}"#),
        format!(r#"{{"input":{ROW}}}"#),
    ] {
        assert_eq!(
            send(addr, post_json(addr, "/predict", body)).await.status,
            StatusCode::OK
        );
    }
    let h2 = send_h2c(
        addr,
        post_json(addr, "/predict", format!(r#"{{"input":{ROW}}}"#)),
    )
    .await;
    assert_eq!(h2.status, StatusCode::OK);
    for body in ["not json", r#"{"input":[1,2]}"#, r#"{"inputs":[]}"#] {
        assert_eq!(
            send(addr, post_json(addr, "/predict", body)).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    // KServe V1: 2 answered, 1 unknown model.
    for _ in 0..2 {
        let body = format!(r#"{{"instances":[{ROW}]}}"#);
        let reply = send(addr, post_json(addr, "/v1/models/test-model:predict", body)).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let body = format!(r#"{{"instances":[{ROW}]}}"#);
    let reply = send(addr, post_json(addr, "/v1/models/other:predict", body)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Health probes and unknown paths are counted under their own fixed labels.
    for _ in 0..5 {
        send(addr, bodiless(addr, Method::GET, "/healthz")).await;
    }
    let reply = send(addr, bodiless(addr, Method::GET, "/no/such/path")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // V2 liveness and readiness are two series, not one `/v2/health`.
    send(addr, bodiless(addr, Method::GET, "/v2/health/live")).await;
    for _ in 0..2 {
        send(addr, bodiless(addr, Method::GET, "/v2/health/ready")).await;
    }

    let after = scrape(addr).await;
    let d = |series: &str| delta(&before, &after, series);
    assert_eq!(d(&requests("/predict", "predict", "2xx")), 4.0);
    assert_eq!(d(&requests("/predict", "predict", "4xx")), 3.0);
    assert_eq!(d(&requests("/predict", "predict", "5xx")), 0.0);
    assert_eq!(d(&durations("/predict", "predict")), 7.0);
    let v1 = "/v1/models/{name}:predict";
    assert_eq!(d(&requests(v1, "kserve_v1", "2xx")), 2.0);
    assert_eq!(d(&requests(v1, "kserve_v1", "4xx")), 1.0);
    assert_eq!(d(&durations(v1, "kserve_v1")), 3.0);
    assert_eq!(d(&requests("/healthz", "health", "2xx")), 5.0);
    assert_eq!(d(&requests("unmatched", "none", "4xx")), 1.0);
    let v2 = "open_inference_v2";
    assert_eq!(d(&requests("/v2/health/live", v2, "2xx")), 1.0);
    assert_eq!(d(&requests("/v2/health/ready", v2, "2xx")), 2.0);
    // The model ran 6 times over 3 + 3 + 2 rows.
    assert_eq!(d("model_inference_duration_seconds_count"), 6.0);
    assert_eq!(d("model_predicted_rows_total"), 8.0);
    let errors = |protocol: &str, kind: &str| {
        format!(r#"model_prediction_errors_total{{protocol="{protocol}",kind="{kind}"}}"#)
    };
    assert_eq!(d(&errors("predict", "invalid_request")), 3.0);
    assert_eq!(d(&errors("kserve_v1", "unknown_model")), 1.0);
    // Nothing is in flight between requests, and scrapes never count themselves.
    assert_eq!(after["http_requests_in_flight"], 0.0);
    assert!(
        !after
            .keys()
            .any(|series| series.contains(r#"route="/metrics""#)),
        "scrapes were counted"
    );
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let server = TestServer::bundled().await;
    let addr = server.addr;
    let mut request = bodiless(addr, Method::GET, "/healthz");
    request
        .headers_mut()
        .insert("x-request-id", "client-42".parse().unwrap());
    assert_eq!(
        send(addr, request).await.headers["x-request-id"],
        "client-42"
    );

    let mut request = post_json(addr, "/predict", "not json");
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    request
        .headers_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let reply = send_h2c(addr, request).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "errors carry the id too"
    );
    assert_eq!(
        reply.headers["x-request-id"],
        "0af7651916cd43dd8448eb211c80319c"
    );

    let first = send(addr, bodiless(addr, Method::GET, "/healthz")).await;
    let second = send(addr, bodiless(addr, Method::GET, "/healthz")).await;
    let (first, second) = (
        &first.headers["x-request-id"],
        &second.headers["x-request-id"],
    );
    assert!(!first.is_empty() && first != second, "{first:?} {second:?}");
    server.stop().await;
}

#[tokio::test]
async fn openmetrics_is_served_when_asked_for() {
    let server = TestServer::bundled().await;
    let addr = server.addr;
    let mut request = bodiless(addr, Method::GET, "/metrics");
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    request
        .headers_mut()
        .insert("accept", accept.parse().unwrap());
    let reply = send(addr, request).await;
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(reply.text().ends_with("# EOF\n"));
    server.stop().await;
}

/// Metric names in a PromQL expression: identifiers that are not functions, keywords,
/// label names (in `{...}` or after `by`/`without`/`on`/`ignoring`), strings or
/// durations. Enough PromQL for a dashboard's queries.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Words after which a parenthesised label list follows.
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Aggregations may put `by (...)` between their name and their argument.
    const OPERATORS: [&str; 17] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // The index after the `close` that ends what starts at `i`, stepping over quoted
    // strings (a label value may hold `}`) and escapes.
    let skip_to = |i: usize, close: char| {
        let mut j = i + 1;
        let mut quote = None;
        while j < chars.len() {
            match (quote, chars[j]) {
                (_, '\\') => j += 1,
                (None, c) if c == close => return j + 1,
                (None, c @ ('"' | '\'')) => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            j += 1;
        }
        j
    };
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => i = skip_to(i, c),
            '{' => i = skip_to(i, '}'),
            '[' => i = skip_to(i, ']'),
            '(' if skip_group => {
                i = skip_to(i, ')');
                skip_group = false;
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:$".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if GROUPING.contains(&word.as_str()) {
                    // group_left/group_right may stand without a list.
                    skip_group = next == Some(&'(');
                } else if next != Some(&'(')
                    && !word.starts_with('$')
                    && !OPERATORS.contains(&word.as_str())
                {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_skips_functions_labels_and_durations() {
    let expr = r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y{z}"}[$__rate_interval]))) / ignoring (code_class) group_left sum(b_total offset 5m) and on() c"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["a_bucket", "b_total", "c"]);
}

#[tokio::test]
async fn the_dashboard_queries_only_metrics_the_function_exports() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../knative/monitoring/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap())
        .map(|target| target["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(queries.len() >= 8, "the dashboard lost its panels");
    // Template variables: label_values(<selector>, <label>) reads <selector>.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query.strip_prefix("label_values(").unwrap();
            queries.push(inner[..inner.rfind(',').unwrap()].to_string());
        }
    }
    let referenced: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();

    // Series appear at first use: make a prediction and an error first.
    let server = TestServer::bundled().await;
    let addr = server.addr;
    send(
        addr,
        post_json(addr, "/predict", format!(r#"{{"input":{ROW}}}"#)),
    )
    .await;
    send(addr, post_json(addr, "/predict", "not json")).await;
    let exported: BTreeSet<String> = scrape(addr)
        .await
        .into_keys()
        .map(|series| series.split('{').next().unwrap().to_string())
        .collect();
    server.stop().await;
    let missing: Vec<&String> = referenced.difference(&exported).collect();
    assert!(referenced.len() >= 6, "{referenced:?}");
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, not exported: {exported:?}"
    );
}
