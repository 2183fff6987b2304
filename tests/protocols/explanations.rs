//! Explanations through the real server: KServe V1's `:explain` and
//! `/predict?explain=true` give the same SHAP values, which with the expected value add
//! up to the probabilities `/predict` gives (the bundled forest sums votes, with no
//! post-transform), and a model whose file holds no covers answers 400 saying how to
//! add them.

use super::*;
use model::{Model, BUNDLED_MODEL};
use prost::Message;

/// Per row, per class: expected value plus the SHAP values over features.
fn totals(explanations: &Value, classes: usize) -> Vec<Vec<f64>> {
    explanations
        .as_array()
        .unwrap()
        .iter()
        .map(|explanation| {
            let expected = explanation["expected_value"].as_array().unwrap();
            let features = explanation["shap_values"].as_array().unwrap();
            (0..classes)
                .map(|k| {
                    let sum: f64 = features.iter().map(|f| f[k].as_f64().unwrap()).sum();
                    expected[k].as_f64().unwrap() + sum
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn explanations_add_up_to_the_probabilities_in_both_protocols() {
    let server = TestServer::bundled().await;
    let rows = json!(ROWS);
    let (labels, probabilities) = reference(&server, &rows).await;

    let v1 = send(
        server.addr,
        post_json(
            server.addr,
            &format!("/v1/models/{NAME}:explain"),
            json!({ "instances": rows }).to_string(),
        ),
    )
    .await
    .ok_json();
    let predict = send(
        server.addr,
        post_json(
            server.addr,
            "/predict?explain=true&probabilities=true",
            json!({ "input": rows }).to_string(),
        ),
    )
    .await
    .ok_json();
    assert_eq!(predict["prediction"], labels);
    assert_eq!(predict["probabilities"], probabilities);
    assert_eq!(v1["explanations"], predict["explanations"]);

    let explanations = &v1["explanations"];
    let classes = probabilities[0].as_array().unwrap().len();
    for (row, totals) in totals(explanations, classes).iter().enumerate() {
        let explanation = &explanations[row];
        assert_eq!(
            explanation["feature_names"],
            json!(["sepal_length", "sepal_width", "petal_length", "petal_width"])
        );
        for (k, total) in totals.iter().enumerate() {
            let p = probabilities[row][k].as_f64().unwrap();
            assert!(
                (total - p).abs() < 1e-6,
                "row {row} class {k}: {total} vs {p}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_model_without_covers_answers_400_saying_how_to_add_them() {
    let mut proto = tract_onnx::pb::ModelProto::decode(BUNDLED_MODEL).unwrap();
    proto
        .metadata_props
        .retain(|p| p.key != model::tree_ensemble::COVERS_KEY);
    let server = TestServer::start(Model::from_bytes(&proto.encode_to_vec()).unwrap()).await;
    let body = json!({ "instances": [ROWS[0]] }).to_string();
    for (path, body) in [
        (format!("/v1/models/{NAME}:explain"), body),
        (
            "/predict?explain=true".to_string(),
            json!({ "input": ROWS[0] }).to_string(),
        ),
    ] {
        let reply = send(server.addr, post_json(server.addr, &path, body)).await;
        assert_eq!(reply.status.as_u16(), 400, "{path}");
        assert!(
            reply.error().contains("converter annotate"),
            "{path}: {}",
            reply.error()
        );
    }
    // Predictions are unaffected.
    let reply = send(
        server.addr,
        post_json(
            server.addr,
            "/predict",
            json!({ "input": ROWS[0] }).to_string(),
        ),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200);
    server.stop().await;
}
