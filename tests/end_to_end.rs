//! End to end: the converter trains and exports, tract loads the ONNX the way the
//! function does, the real server answers over HTTP, and the served predictions are
//! the trained model's (linfa's for the logistic regression).

use clap::Parser;
use converter::cli::{Cli, Command, TrainArgs, TrainOutcome};
use converter::train::{forest_votes, Trained};
use harness::client::{bodiless, post_json, rows_json, send, send_h2c};
use harness::server::TestServer;
use hyper::{Method, StatusCode};
use linfa::prelude::Predict;
use model::{Model, BUNDLED_MODEL};

fn train_args(flags: &[&str]) -> TrainArgs {
    let argv = ["converter", "train"]
        .into_iter()
        .chain(flags.iter().copied());
    match Cli::parse_from(argv).command {
        Command::Train(args) => args,
        other => unreachable!("parsed `train` as {other:?}"),
    }
}

fn trained(flags: &[&str]) -> TrainOutcome {
    converter::cli::train(&train_args(flags)).unwrap()
}

/// Labels and probabilities the server returns for the hold-out rows.
async fn serve_hold_out(outcome: &TrainOutcome) -> (Vec<i64>, Vec<Vec<f32>>) {
    let server = TestServer::start(Model::from_bytes(&outcome.onnx).unwrap()).await;
    let body = rows_json(&outcome.test.records);
    let reply = send(
        server.addr,
        post_json(server.addr, "/predict?probabilities=true", body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let json = reply.json();
    let labels = json["prediction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let probabilities = json["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    server.stop().await;
    (labels, probabilities)
}

#[tokio::test]
async fn served_forest_predicts_what_the_trained_forest_predicts_on_the_hold_out_rows() {
    let outcome = trained(&[]);
    let Trained::Forest { forest, n_classes } = &outcome.trained else {
        panic!("the default model is a forest")
    };
    let (labels, probabilities) = serve_hold_out(&outcome).await;
    let votes = forest_votes(forest, &outcome.test.records, *n_classes);
    let trained = outcome.trained.predict(&outcome.test.records);
    assert_eq!(labels.len(), outcome.test.len());
    for (row, served) in labels.iter().enumerate() {
        let row_votes = votes.row(row);
        let most = *row_votes.iter().max().unwrap();
        let leaders: Vec<i64> = (0..*n_classes)
            .filter(|&c| row_votes[c] == most)
            .map(|c| c as i64)
            .collect();
        // The majority vote, and on a tie the first class, as the ONNX arg-max picks.
        assert_eq!(*served, leaders[0], "row {row}, votes {row_votes}");
        assert_eq!(*served, trained[row] as i64, "row {row}, votes {row_votes}");
        // The share of trees voting for the class, exactly as f32 has it (0.66, not the
        // 0.65999967 that adding 66 weights of 0.01 in f32 gives).
        for (class, p) in probabilities[row].iter().enumerate() {
            let share = row_votes[class] as f32 / forest.trees.len() as f32;
            assert_eq!(*p, share, "row {row} class {class}, votes {row_votes}");
        }
    }
}

#[tokio::test]
async fn served_logistic_regression_predicts_what_linfa_predicts() {
    let outcome = trained(&["--model", "logistic"]);
    let Trained::Logistic(model) = &outcome.trained else {
        panic!("--model logistic trains a logistic regression")
    };
    let (labels, probabilities) = serve_hold_out(&outcome).await;
    // linfa predicts on standardised rows; the served model folds the standardisation
    // into its coefficients and takes the raw rows.
    let standardised = model.standardise(&outcome.test.records);
    let linfa: Vec<i64> = model
        .model
        .predict(&standardised)
        .iter()
        .map(|&c| c as i64)
        .collect();
    assert_eq!(labels, linfa);
    let expected = model.model.predict_probabilities(&standardised);
    for (row, served) in probabilities.iter().enumerate() {
        for (class, p) in served.iter().enumerate() {
            let want = expected[[row, class]] as f32;
            assert!(
                (p - want).abs() < 1e-5,
                "row {row} class {class}: {p} vs {want}"
            );
        }
    }
}

#[test]
fn converter_reproduces_the_bundled_model_byte_for_byte() {
    let outcome = trained(&[]);
    assert!(
        outcome.onnx == BUNDLED_MODEL,
        "models/iris-forest.onnx is stale: regenerate it with \
         `cargo run --release -p converter -- train -o models/iris-forest.onnx`"
    );
}

/// The example model the ConfigMap overlay ships is what its comment says it is.
#[test]
fn converter_reproduces_the_configmap_example_model_byte_for_byte() {
    let outcome = trained(&["--model", "logistic"]);
    let shipped = include_bytes!("../knative/overlays/model-configmap/model.onnx");
    assert!(
        outcome.onnx == shipped,
        "knative/overlays/model-configmap/model.onnx is stale: regenerate it with \
         `cargo run --release -p converter -- train --model logistic \
         -o knative/overlays/model-configmap/model.onnx`"
    );
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = trained(&["--seed", "7", "--trees", "20"]).onnx;
    let b = trained(&["--seed", "7", "--trees", "20"]).onnx;
    let c = trained(&["--seed", "8", "--trees", "20"]).onnx;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[tokio::test]
async fn tutorial_curl_example_answers_prediction_0() {
    let server = TestServer::bundled().await;
    let body = r#"{"input":[5.1,3.5,1.4,0.2]}"#;
    let reply = send(server.addr, post_json(server.addr, "/predict", body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), r#"{"prediction":[0]}"#);
    assert_eq!(reply.headers["content-type"], "application/json");
    server.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_requests_are_served() {
    let server = TestServer::bundled().await;
    let body = r#"{"input":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}"#;
    let reply = send_h2c(server.addr, post_json(server.addr, "/predict", body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let http1 = send(server.addr, post_json(server.addr, "/predict", body)).await;
    assert_eq!(reply.body, http1.body, "h2c and HTTP/1.1 answer the same");
    let health = send_h2c(
        server.addr,
        bodiless(server.addr, Method::GET, "/health/readiness"),
    )
    .await;
    assert_eq!(health.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn health_routes_answer_200() {
    let server = TestServer::bundled().await;
    for path in [
        "/healthz",
        "/readyz",
        "/health/liveness",
        "/health/readiness",
    ] {
        let reply = send(server.addr, bodiless(server.addr, Method::GET, path)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    let ready = send(server.addr, bodiless(server.addr, Method::GET, "/readyz")).await;
    assert_eq!(ready.json()["model"], "test-model");
    server.stop().await;
}

/// `POST /predict?probabilities=true` with `body`.
async fn with_probabilities(server: &TestServer, body: &str) -> harness::client::Reply {
    let request = post_json(server.addr, "/predict?probabilities=true", body.to_string());
    send(server.addr, request).await
}

#[tokio::test]
async fn unanimous_votes_answer_probability_one_as_the_readme_shows() {
    let server = TestServer::bundled().await;
    let body = r#"{"input":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}"#;
    let reply = with_probabilities(&server, body).await;
    assert_eq!(
        reply.text(),
        r#"{"prediction":[0,2],"probabilities":[[1.0,0.0,0.0],[0.0,0.0,1.0]]}"#
    );
    server.stop().await;
}

#[tokio::test]
async fn probabilities_are_one_row_per_input_row_summing_to_one() {
    let server = TestServer::bundled().await;
    let body = r#"{"input":[[5.1,3.5,1.4,0.2],[6.0,2.9,4.5,1.5],[6.7,3.0,5.2,2.3]]}"#;
    let reply = with_probabilities(&server, body).await;
    let json = reply.json();
    let rows = json["probabilities"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, label) in rows.iter().zip(json["prediction"].as_array().unwrap()) {
        let p: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{p:?}");
        let argmax = (0..3).fold(0, |best, c| if p[c] > p[best] { c } else { best });
        assert_eq!(label.as_i64(), Some(argmax as i64));
    }
    server.stop().await;
}

/// A batch big enough to be predicted on the blocking pool (see function::runtime) gets
/// the answers its rows get one at a time on the worker threads, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_predicted_off_the_workers_answers_like_its_rows_alone() {
    let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
    let rows = 2 * function::runtime::OFFLOAD_MIN_TREE_ROWS / model.work_per_row();
    assert!(model.work_per_row() * rows >= function::runtime::OFFLOAD_MIN_TREE_ROWS);
    let server = TestServer::start(model).await;
    // Rows spread over and beyond Iris's ranges, so all three classes come up.
    let batch = ndarray::Array2::from_shape_fn((rows, 4), |(i, j)| {
        ((i * 7 + j * 13) % 50) as f32 * 0.16 + j as f32 * 0.3
    });
    let reply = send(
        server.addr,
        post_json(server.addr, "/predict", rows_json(&batch)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let together: Vec<i64> = reply.json()["prediction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(together.len(), rows);
    let mut classes = std::collections::BTreeSet::new();
    for (i, row) in batch.outer_iter().enumerate().step_by(37) {
        let body = format!(r#"{{"input":{:?}}}"#, row.to_vec());
        let alone = send(server.addr, post_json(server.addr, "/predict", body)).await;
        assert_eq!(
            alone.json()["prediction"][0].as_i64(),
            Some(together[i]),
            "row {i}"
        );
        classes.insert(together[i]);
    }
    assert!(classes.len() > 1, "every row got class {classes:?}");
    server.stop().await;
}
