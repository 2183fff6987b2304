//! Open Inference Protocol metadata and health: the server, and the model's inputs and
//! outputs as its ONNX graph declares them, with -1 for the batch dimension.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::error::json_response;
use crate::state::App;
use model::{ElementType, InputInfo, Labels, Model, ModelInfo, Task};

/// `platform` in the model metadata: what runs the ONNX graph, in Triton's
/// `<backend>_<format>` convention (as in its `onnxruntime_onnx`): our tree kernel when
/// the graph is one tree ensemble, else tract's plan.
pub fn platform(model: &Model) -> &'static str {
    if model.runs_through_tract() {
        "tract_onnx"
    } else {
        "tree_kernel_onnx"
    }
}

/// `GET /v2`: the server's name, version and protocol extensions (none in full: binary
/// tensors are read but never written).
pub fn server_metadata() -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// `GET /v2/health/live`.
pub fn live() -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, br#"{"live":true}"#.to_vec())
}

/// `GET /v2/health/ready`: the port opens only after the model has loaded, so ready
/// until shutdown begins; then `{"ready":false}` with 503.
pub fn ready(app: &App) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "ready": app.is_ready() });
    json_response(app.readiness_status(), body.to_string().into_bytes())
}

/// `GET /v2/models/{name}[/versions/{v}]/ready`, as [`ready`].
pub fn model_ready(app: &App) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "name": app.model_name, "ready": app.is_ready() });
    json_response(app.readiness_status(), body.to_string().into_bytes())
}

/// `GET /v2/models/{name}[/versions/{v}]`: the inputs and outputs as the ONNX declares
/// them, with -1 for the batch dimension.
pub fn model_metadata(app: &App) -> Response<Full<Bytes>> {
    let info = app.model.info();
    let tensor = |spec: &OutputSpec| serde_json::json!({ "name": spec.name, "datatype": spec.datatype, "shape": spec.shape });
    let body = serde_json::json!({
        "name": app.model_name,
        "versions": [app.model_version],
        "platform": platform(&app.model),
        "inputs": input_metadata(info),
        "outputs": output_specs(info).iter().map(tensor).collect::<Vec<_>>(),
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// Every input as `{"name", "datatype", "shape"}`, in the graph's order: what a request
/// sends one tensor of each (also in `GET /`).
pub fn input_metadata(info: &ModelInfo) -> Vec<serde_json::Value> {
    (info.inputs.iter())
        .map(|input| {
            serde_json::json!({
                "name": input.name,
                "datatype": datatype(input.element),
                "shape": shape(input),
            })
        })
        .collect()
}

/// The protocol's datatype of an input's elements.
pub fn datatype(element: ElementType) -> &'static str {
    match element {
        ElementType::F32 => "FP32",
        ElementType::I64 => "INT64",
        ElementType::Str => "BYTES",
    }
}

/// An input's shape as declared, -1 for the batch: `[-1, width]` or `[-1]`.
pub fn shape(input: &InputInfo) -> Vec<i64> {
    match input.rank {
        1 => vec![-1],
        _ => vec![-1, input.width as i64],
    }
}

/// What an output holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum OutputKind {
    /// A classifier's labels.
    Label,
    /// A classifier's class probabilities.
    Probabilities,
    /// A regressor's values.
    Values,
}

/// One output of the model as the protocol describes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OutputSpec<'a> {
    pub name: &'a str,
    pub kind: OutputKind,
    pub datatype: &'static str,
    pub shape: Vec<i64>,
}

/// The model's outputs: a classifier's labels (INT64 or BYTES) and probabilities (FP32),
/// or a regressor's values (FP32), named as in the ONNX graph.
pub(super) fn output_specs(info: &ModelInfo) -> Vec<OutputSpec<'_>> {
    let name = |i: usize| info.output_names[i].as_str();
    match &info.task {
        Task::Regressor { targets } => vec![OutputSpec {
            name: name(0),
            kind: OutputKind::Values,
            datatype: "FP32",
            shape: vec![-1, *targets as i64],
        }],
        Task::Classifier { labels } => {
            let datatype = match labels {
                Labels::Int(_) => "INT64",
                Labels::Str(_) => "BYTES",
            };
            let mut specs = vec![OutputSpec {
                name: name(0),
                kind: OutputKind::Label,
                datatype,
                shape: vec![-1],
            }];
            if info.output_names.len() > 1 {
                specs.push(OutputSpec {
                    name: name(1),
                    kind: OutputKind::Probabilities,
                    datatype: "FP32",
                    shape: vec![-1, labels.len() as i64],
                });
            }
            specs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier(labels: Labels, outputs: &[&str]) -> ModelInfo {
        ModelInfo::for_tests(labels, outputs)
    }

    #[test]
    fn output_datatypes_follow_the_labels() {
        let ints = classifier(Labels::Int(vec![0, 1, 2]), &["label", "probabilities"]);
        let specs = output_specs(&ints);
        assert_eq!(specs[0].datatype, "INT64");
        assert_eq!(
            (specs[1].datatype, &specs[1].shape[..]),
            ("FP32", &[-1, 3][..])
        );
        let strings = classifier(Labels::Str(vec!["a".into()]), &["label"]);
        let specs = output_specs(&strings);
        assert_eq!(specs.len(), 1);
        assert_eq!(
            (specs[0].datatype, &specs[0].shape[..]),
            ("BYTES", &[-1][..])
        );
    }

    #[test]
    fn inputs_are_described_with_their_datatype_and_declared_shape() {
        let mut info = classifier(Labels::Int(vec![0, 1]), &["label"]);
        let mut island = InputInfo::new("island", ElementType::Str, 1, false);
        island.rank = 1;
        info.inputs.push(island);
        let described = serde_json::Value::from(input_metadata(&info));
        let expected = serde_json::json!([
            { "name": "input", "datatype": "FP32", "shape": [-1, 2] },
            { "name": "island", "datatype": "BYTES", "shape": [-1] },
        ]);
        assert_eq!(described, expected);
    }

    #[test]
    fn the_platform_names_what_runs_the_graph() {
        use model::BUNDLED_MODEL;
        let direct = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let planned = Model::from_bytes_through_tract(BUNDLED_MODEL).unwrap();
        assert_eq!(platform(&direct), "tree_kernel_onnx");
        assert_eq!(platform(&planned), "tract_onnx");
    }
}
