//! Named columns: a model of several graph inputs (a string, a float pair and an int64,
//! as a ColumnTransformer export has them) and a single-input model by its feature
//! names, through `/predict`, KServe V1, Open Inference V2 (JSON and binary, BYTES for
//! the strings) and CloudEvents: every protocol gives the same answers.

use converter::onnx::{self, floats, int, ints, strings, tensor_info};
use harness::client::{bodiless, post_json, post_with, send};
use harness::server::TestServer;
use hyper::{Method, StatusCode};
use model::Model;
use serde_json::{json, Value};
use tract_onnx::pb::{tensor_proto::DataType, NodeProto};

use crate::{flat, infer_binary, reference, NAME, ROWS};

/// The islands the model's CategoryMapper knows, coded 0, 1, 2 (any other is -1).
const ISLANDS: [&str; 3] = ["Biscoe", "Dream", "Torgersen"];

/// A node of `op_type` from `input` to `output`.
fn node(
    op_type: &str,
    input: &[&str],
    output: &[&str],
    attribute: Vec<tract_onnx::pb::AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op_type.into(),
        domain: if op_type == "Cast" || op_type == "Concat" {
            ""
        } else {
            onnx::ML_DOMAIN
        }
        .into(),
        input: input.iter().map(|s| s.to_string()).collect(),
        output: output.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A penguin classifier of three inputs, built with standard operators tract runs:
/// `island` (string [N, 1]) -> CategoryMapper -> Cast, `bill` (float [N, 2]: length,
/// depth), `year` (int64 [N, 1]) -> Cast, concatenated into [island, length, depth,
/// year] for one tree:
///   length <= 42 ? (island <= 0.5 ? Adelie : Chinstrap) : (year <= 2007.5 ? Chinstrap : Gentoo)
/// A missing length (NaN) fails its test, as onnxruntime's trees do.
fn penguins() -> Vec<u8> {
    let modes = [
        "BRANCH_LEQ",
        "BRANCH_LEQ",
        "BRANCH_LEQ",
        "LEAF",
        "LEAF",
        "LEAF",
        "LEAF",
    ];
    let tree = vec![
        ints("nodes_treeids", vec![0; 7]),
        ints("nodes_nodeids", (0..7).collect()),
        ints("nodes_featureids", vec![1, 0, 3, 0, 0, 0, 0]),
        floats("nodes_values", vec![42.0, 0.5, 2007.5, 0.0, 0.0, 0.0, 0.0]),
        strings("nodes_modes", modes.to_vec()),
        ints("nodes_truenodeids", vec![1, 3, 5, 0, 0, 0, 0]),
        ints("nodes_falsenodeids", vec![2, 4, 6, 0, 0, 0, 0]),
        ints("class_treeids", vec![0; 4]),
        ints("class_nodeids", vec![3, 4, 5, 6]),
        ints("class_ids", vec![0, 1, 1, 2]),
        floats("class_weights", vec![1.0; 4]),
        strings("classlabels_strings", vec!["Adelie", "Chinstrap", "Gentoo"]),
    ];
    let float = int("to", DataType::Float as i64);
    let nodes = vec![
        node(
            "CategoryMapper",
            &["island"],
            &["island_code"],
            vec![
                strings("cats_strings", ISLANDS.to_vec()),
                ints("cats_int64s", vec![0, 1, 2]),
                int("default_int64", -1),
            ],
        ),
        node(
            "Cast",
            &["island_code"],
            &["island_float"],
            vec![float.clone()],
        ),
        node("Cast", &["year"], &["year_float"], vec![float]),
        node(
            "Concat",
            &["island_float", "bill", "year_float"],
            &["features"],
            vec![int("axis", 1)],
        ),
        node(
            "TreeEnsembleClassifier",
            &["features"],
            &[onnx::LABEL, onnx::PROBABILITIES],
            tree,
        ),
    ];
    let info = onnx::ModelInfo {
        regression: false,
        string_labels: true,
        // Four names for three inputs: ignored, the inputs name the columns.
        feature_names: ["island", "bill_length", "bill_depth", "year"]
            .map(String::from)
            .to_vec(),
        class_names: ["Adelie", "Chinstrap", "Gentoo"].map(String::from).to_vec(),
        model_type: "penguins",
        description: "three inputs, one tree".into(),
    };
    let mut model = onnx::tabular_model(nodes, &info, None);
    model.graph.as_mut().unwrap().input = vec![
        tensor_info("island", DataType::String, &[None, Some(1)]),
        tensor_info("bill", DataType::Float, &[None, Some(2)]),
        tensor_info("year", DataType::Int64, &[None, Some(1)]),
    ];
    onnx::encode(&model)
}

/// Rows as records: known islands, an unseen one (coded -1 by the model's encoder), a
/// missing bill length; and the labels the tree gives them.
fn penguin_rows() -> (Value, Value) {
    let records = json!([
        { "island": "Dream", "bill": [39.1, 18.7], "year": 2007 },
        { "island": "Biscoe", "bill": [46.5, 15.2], "year": 2008 },
        { "island": "Atlantis", "bill": [38.0, 17.0], "year": 2009 },
        { "island": "Torgersen", "bill": [null, 17.0], "year": 2007 },
    ]);
    (
        records,
        json!(["Chinstrap", "Gentoo", "Adelie", "Chinstrap"]),
    )
}

/// The message of the 400 that `body` posted to `path` gets.
async fn refused(server: &TestServer, path: &str, body: Value) -> String {
    let reply = send(server.addr, post_json(server.addr, path, body.to_string())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    reply.error()
}

/// `body` posted to `path`, answered 200.
async fn post(server: &TestServer, path: &str, body: Value) -> Value {
    send(server.addr, post_json(server.addr, path, body.to_string()))
        .await
        .ok_json()
}

#[tokio::test]
async fn a_model_of_several_inputs_answers_alike_in_every_protocol() {
    let server = TestServer::start(Model::from_bytes(&penguins()).unwrap()).await;
    let (records, labels) = penguin_rows();
    let answer = post(
        &server,
        "/predict?probabilities=true",
        json!({ "input": records }),
    )
    .await;
    assert_eq!(answer["prediction"], labels);
    let probabilities = answer["probabilities"].clone();
    assert_eq!(probabilities[1], json!([0.0, 0.0, 1.0]));

    let v1 = post(
        &server,
        &format!("/v1/models/{NAME}:predict"),
        json!({ "instances": records }),
    )
    .await;
    assert_eq!(v1, json!({ "predictions": labels }));

    let one = post(&server, "/predict", json!({ "input": records[2] })).await;
    assert_eq!(one["prediction"], json!([labels[2]]));

    let column = |name: &str| -> Value {
        Value::Array(
            records
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[name].clone())
                .collect(),
        )
    };
    let outputs = json!([
        { "name": "label", "datatype": "BYTES", "shape": [4], "data": labels },
        { "name": "probabilities", "datatype": "FP32", "shape": [4, 3], "data": flat(&probabilities) },
    ]);
    // V2, JSON: one tensor per input, in any order; `[N]` for a column of one value.
    let v2 = post(
        &server,
        &format!("/v2/models/{NAME}/infer"),
        json!({ "inputs": [
            { "name": "year", "shape": [4], "datatype": "INT64", "data": column("year") },
            { "name": "bill", "shape": [4, 2], "datatype": "FP32", "data": column("bill") },
            { "name": "island", "shape": [4, 1], "datatype": "BYTES", "data": column("island") },
        ]}),
    )
    .await;
    assert_eq!(v2["outputs"], outputs);

    // V2, Triton's binary extension: BYTES length-prefixed, NaN for the missing length.
    let islands: Vec<u8> = (column("island").as_array().unwrap().iter())
        .flat_map(|i| {
            let i = i.as_str().unwrap();
            (i.len() as u32).to_le_bytes().into_iter().chain(i.bytes())
        })
        .collect();
    let bills: Vec<u8> = [39.1f32, 18.7, 46.5, 15.2, 38.0, 17.0, f32::NAN, 17.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let years: Vec<u8> = [2007i64, 2008, 2009, 2007]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let binary = |name: &str, datatype: &str, bytes: &[u8], shape: Value| {
        json!({
            "name": name, "shape": shape, "datatype": datatype,
            "parameters": { "binary_data_size": bytes.len() },
        })
    };
    let header = json!({ "inputs": [
        binary("island", "BYTES", &islands, json!([4, 1])),
        binary("bill", "FP32", &bills, json!([4, 2])),
        binary("year", "INT64", &years, json!([4, 1])),
    ]});
    let reply = infer_binary(&server, &header, &[islands, bills, years].concat()).await;
    assert_eq!(reply.ok_json()["outputs"], outputs);

    // CloudEvents, structured mode, records in the data.
    let event = json!({
        "specversion": "1.0", "id": "e", "source": "/tests", "type": "t",
        "data": { "input": records },
    });
    let request = post_with(
        server.addr,
        "/",
        &[("content-type", "application/cloudevents+json")],
        event.to_string(),
    );
    let reply = send(server.addr, request).await.ok_json();
    assert_eq!(
        reply["data"],
        json!({ "prediction": labels, "probabilities": probabilities })
    );
    server.stop().await;
}

#[tokio::test]
async fn several_inputs_are_described_and_a_bad_column_is_named() {
    let server = TestServer::start(Model::from_bytes(&penguins()).unwrap()).await;
    let get = |path: String| send(server.addr, bodiless(server.addr, Method::GET, &path));
    let inputs = json!([
        { "name": "island", "datatype": "BYTES", "shape": [-1, 1] },
        { "name": "bill", "datatype": "FP32", "shape": [-1, 2] },
        { "name": "year", "datatype": "INT64", "shape": [-1, 1] },
    ]);
    assert_eq!(
        get(format!("/v2/models/{NAME}")).await.ok_json()["inputs"],
        inputs
    );
    let summary = get("/".into()).await.ok_json();
    assert_eq!(summary["model"]["inputs"], inputs);
    assert_eq!(summary["model"]["feature_names"], Value::Null);

    let (mut records, _) = penguin_rows();
    records[1].as_object_mut().unwrap().remove("year");
    let message = refused(&server, "/predict", json!({ "input": records })).await;
    assert!(
        message.contains("`input[1]` has no column \"year\""),
        "{message}"
    );
    let v1 = format!("/v1/models/{NAME}:predict");
    let message = refused(&server, &v1, json!({ "instances": [[1, 2, 3, 4]] })).await;
    assert!(message.contains("takes named columns"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn a_single_input_model_takes_records_by_feature_name() {
    let server = TestServer::bundled().await;
    let rows = json!(ROWS);
    let (labels, probabilities) = reference(&server, &rows).await;
    let names = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
    let records: Vec<Value> = ROWS
        .iter()
        .map(|row| {
            Value::Object(
                names
                    .iter()
                    .map(|n| n.to_string())
                    .zip(row.iter().map(|v| json!(v)))
                    .collect(),
            )
        })
        .collect();
    let answer = post(
        &server,
        "/predict?probabilities=true",
        json!({ "input": records }),
    )
    .await;
    assert_eq!(
        (&answer["prediction"], &answer["probabilities"]),
        (&labels, &probabilities)
    );
    let v1 = post(
        &server,
        &format!("/v1/models/{NAME}:predict"),
        json!({ "instances": records }),
    )
    .await;
    assert_eq!(v1["predictions"], labels);
    let binary = post_with(
        server.addr,
        "/",
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/t"),
            ("ce-type", "t"),
        ],
        json!({ "input": records[0] }).to_string(),
    );
    let event = send(server.addr, binary).await.ok_json();
    assert_eq!(event["prediction"], json!([labels[0]]));
    // V2 keeps the one tensor of the graph's one input.
    let v2 = post(
        &server,
        &format!("/v2/models/{NAME}/infer"),
        json!({ "inputs": [
            { "name": "input", "shape": [ROWS.len(), 4], "datatype": "FP32", "data": rows },
        ]}),
    )
    .await;
    assert_eq!(v2["outputs"][0]["data"], labels);
    server.stop().await;
}
