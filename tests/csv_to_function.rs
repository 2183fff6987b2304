//! A user's CSV file with a string target, end to end: the converter trains on it and
//! exports ONNX, the real server serves that file, and answers with the class names;
//! the reported hold-out accuracy is what the served model scores on those rows.

use clap::Parser;
use converter::cli::{Cli, Command, TrainOutcome};
use harness::client::{bodiless, post_json, rows_json, send};
use harness::server::TestServer;
use hyper::{Method, StatusCode};
use model::{Labels, Model, Task};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");
const CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];

fn train(flags: &[&str]) -> TrainOutcome {
    train_on(FIXTURE, "species", flags)
}

fn train_on(data: &str, target: &str, flags: &[&str]) -> TrainOutcome {
    let argv = ["converter", "train", "--data", data, "--target", target]
        .into_iter()
        .chain(flags.iter().copied());
    match Cli::parse_from(argv).command {
        Command::Train(args) => converter::cli::train(&args).unwrap(),
        other => unreachable!("parsed `train` as {other:?}"),
    }
}

#[tokio::test]
async fn served_csv_models_answer_with_class_names_and_score_the_reported_accuracy() {
    for model in ["forest", "tree", "logistic"] {
        let outcome = train(&["--model", model, "--trees", "30"]);
        let loaded = Model::from_bytes(&outcome.onnx).unwrap();
        // The function knows the labels before predicting (the logistic regression's
        // come from the CategoryMapper after its LinearClassifier).
        let names = CLASSES.map(String::from).to_vec();
        let expected = Task::Classifier {
            labels: Labels::Str(names),
        };
        assert_eq!(loaded.info().task, expected, "{model}");
        let server = TestServer::start(loaded).await;
        let body = rows_json(&outcome.test.records);
        let reply = send(server.addr, post_json(server.addr, "/predict", body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{model}: {}", reply.text());
        let served: Vec<String> = reply.json()["prediction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().expect("labels are class names").to_string())
            .collect();
        assert!(
            served.iter().all(|s| CLASSES.contains(&s.as_str())),
            "{served:?}"
        );
        // Score the served answers against the file's labels ourselves.
        let truth: Vec<&str> = outcome
            .test
            .targets
            .iter()
            .map(|&c| outcome.table.class_names[c].as_str())
            .collect();
        let correct = served.iter().zip(&truth).filter(|(s, t)| s == t).count();
        assert_eq!(correct, outcome.evaluation.correct, "{model}");
        assert_eq!(outcome.evaluation.rows, truth.len(), "{model}");

        // The summary names features and classes, and so does a wrong-width error.
        let index = send(server.addr, bodiless(server.addr, Method::GET, "/")).await;
        let summary = index.json();
        assert_eq!(summary["model"]["class_names"], serde_json::json!(CLASSES));
        let features = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
        assert_eq!(
            summary["model"]["feature_names"],
            serde_json::json!(features)
        );
        let reply = send(
            server.addr,
            post_json(server.addr, "/predict", r#"{"input":[1.0,2.0]}"#),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply.text().contains(&features.join(", ")),
            "{}",
            reply.text()
        );
        server.stop().await;
    }
}

/// Linear models the converter trains carry their training means, so the function
/// explains them: per row, the expected value plus the SHAP values is the raw score,
/// the value itself for a linear regression and the class margins whose softmax is
/// the probabilities for a logistic regression.
#[tokio::test]
async fn served_linear_models_explain_their_raw_scores() {
    let diabetes = concat!(env!("CARGO_MANIFEST_DIR"), "/data/diabetes.csv");
    let cases = [
        train_on(diabetes, "progression", &["--model", "linear"]),
        train(&["--model", "logistic"]),
    ];
    for outcome in cases {
        let server = TestServer::start(Model::from_bytes(&outcome.onnx).unwrap()).await;
        let rows = rows_json(&outcome.test.records);
        let path = "/predict?explain=true&probabilities=true";
        let reply = send(server.addr, post_json(server.addr, path, rows)).await;
        let answer = reply.ok_json();
        let explanations = answer["explanations"].as_array().unwrap();
        assert_eq!(explanations.len(), outcome.test.records.nrows());
        for (row, explanation) in explanations.iter().enumerate() {
            let expected = explanation["expected_value"].as_array().unwrap();
            let features = explanation["shap_values"].as_array().unwrap();
            assert_eq!(features.len(), outcome.test.records.ncols());
            let totals: Vec<f64> = (0..expected.len())
                .map(|k| {
                    let sum: f64 = features.iter().map(|f| f[k].as_f64().unwrap()).sum();
                    expected[k].as_f64().unwrap() + sum
                })
                .collect();
            match answer.get("probabilities") {
                Some(probabilities) => {
                    let top = totals.iter().cloned().fold(f64::MIN, f64::max);
                    let sum: f64 = totals.iter().map(|m| (m - top).exp()).sum();
                    let want = probabilities[row].as_array().unwrap();
                    for (margin, p) in totals.iter().zip(want) {
                        let softmax = (margin - top).exp() / sum;
                        let p = p.as_f64().unwrap();
                        assert!((softmax - p).abs() < 1e-5, "row {row}: {softmax} vs {p}");
                    }
                }
                None => {
                    let value = answer["prediction"][row].as_f64().unwrap();
                    let tolerance = 1e-5 * value.abs().max(1.0);
                    assert!(
                        (totals[0] - value).abs() < tolerance,
                        "row {row}: {totals:?} vs {value}"
                    );
                }
            }
        }
        server.stop().await;
    }
}

#[test]
fn same_csv_flags_and_seed_give_the_same_bytes() {
    // Two trainings in one process: linfa-trees, which grew the trees before, summed
    // class counts in HashMaps whose order differs between instances.
    for flags in [
        &[
            "--model",
            "forest",
            "--trees",
            "20",
            "--feature-fraction",
            "0.5",
        ][..],
        &["--model", "tree", "--min-samples-leaf", "3"],
        &["--model", "logistic", "--folds", "3"],
    ] {
        assert!(train(flags).onnx == train(flags).onnx, "{flags:?}");
    }
    // Three classes and 600 rows of 5-decimal values: the shape on which linfa-trees
    // ranked near-equal splits by HashMap order (see converter/src/train/cart.rs).
    let classes_600 = concat!(env!("CARGO_MANIFEST_DIR"), "/data/classes-600.csv");
    let twice = [0, 1].map(|_| train_on(classes_600, "kind", &["--trees", "30"]).onnx);
    assert!(twice[0] == twice[1], "{classes_600}");
    let a = train(&["--trees", "20", "--seed", "1"]).onnx;
    let b = train(&["--trees", "20", "--seed", "2"]).onnx;
    assert_ne!(a, b);
}

/// Row `row` of `table` as a client's record: numbers and category names by column
/// name, `null` when missing.
fn record(table: &converter::data::Table, row: usize) -> serde_json::Value {
    let mut record = serde_json::Map::new();
    for (j, column) in table.columns.iter().enumerate() {
        let cell = table.records[[row, j]];
        let value = match &column.kind {
            converter::data::ColumnKind::Categorical { categories } => {
                match categories[cell as usize].as_str() {
                    "" => serde_json::Value::Null,
                    name => serde_json::Value::from(name),
                }
            }
            _ if cell.is_nan() => serde_json::Value::Null,
            _ => serde_json::Value::from(f64::from(cell)),
        };
        record.insert(column.name.clone(), value);
    }
    serde_json::Value::Object(record)
}

#[tokio::test]
async fn a_mixed_csv_is_served_by_column_with_nulls_and_unseen_categories() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/churn-mixed.csv");
    for model in ["forest", "tree", "logistic"] {
        let outcome = train_on(data, "churn", &["--model", model, "--trees", "30"]);
        let loaded = Model::from_bytes(&outcome.onnx).unwrap();
        let inputs: Vec<&str> = (loaded.info().inputs.iter())
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(inputs, ["age", "region", "income", "plan", "tenure"]);
        let test = &outcome.test;
        let mut records: Vec<serde_json::Value> =
            (0..test.len()).map(|r| record(test, r)).collect();
        assert!(
            records
                .iter()
                .any(|r| r.as_object().unwrap().values().any(|v| v.is_null())),
            "the held-out rows include missing numbers"
        );
        // The first held-out row again, from a region never seen in training.
        let mut unseen = records[0].clone();
        unseen["region"] = "Atlantis".into();
        records.push(unseen);

        let server = TestServer::start(loaded).await;
        let body = serde_json::json!({ "input": records }).to_string();
        let reply = send(server.addr, post_json(server.addr, "/predict", body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{model}: {}", reply.text());
        let served: Vec<String> = (reply.json()["prediction"].as_array().unwrap().iter())
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        server.stop().await;

        // What the trained model predicts on the same rows, encoded as in training; for
        // the unseen region, the first row with every region column 0.
        let mut encoded = outcome.encoding.apply(test).records;
        let mut first = encoded.row(0).to_owned();
        let names = &outcome.encoding.apply(test).feature_names;
        for (j, name) in names.iter().enumerate() {
            if name.starts_with("region=") {
                first[j] = 0.0;
            }
        }
        encoded.push_row(first.view()).unwrap();
        let expected: Vec<String> = (outcome.trained.predict(&encoded).into_iter())
            .map(|class| outcome.table.class_names[class].clone())
            .collect();
        assert_eq!(served, expected, "{model}");
    }
}
