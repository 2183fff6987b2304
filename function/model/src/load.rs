//! Loading: decode the ONNX protobuf, check it is a classifier we can serve, read its
//! labels and metadata, then either build the tree-ensemble op directly (a graph that is
//! that one node) or let tract build an optimised plan with a symbolic batch.

use std::sync::{Arc, Mutex};

use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as Dim, type_proto, ModelProto,
    NodeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

use super::check::{check_output_names, check_outputs, unknown_operator};
use super::tree_ensemble::TreeEnsemble;
use super::{Labels, ModelInfo, Runner, Task};

/// The ONNX classifier operators the function serves, with the attribute holding their
/// int64 labels (string labels are `classlabels_strings` for both).
const CLASSIFIERS: [(&str, &str); 2] = [
    ("TreeEnsembleClassifier", "classlabels_int64s"),
    ("LinearClassifier", "classlabels_ints"),
];
/// The ONNX regressor operators the function serves, with the attribute holding their
/// number of targets (default 1).
const REGRESSORS: [(&str, &str); 2] = [
    ("TreeEnsembleRegressor", "n_targets"),
    ("LinearRegressor", "targets"),
];

/// Why a model file cannot be served. Each message names the file's problem.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// A valid ONNX file this function cannot serve.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// tract refused the graph.
    #[error("tract cannot load the model: {0}")]
    Tract(String),
}

pub(super) fn unsupported(message: impl Into<String>) -> LoadError {
    LoadError::Unsupported(message.into())
}

/// Decodes, checks and prepares the model in `bytes`; `through_tract` builds tract's
/// plan even for a graph the tree-ensemble op could run alone (to compare the two).
pub(super) fn load(
    bytes: &[u8],
    through_tract: bool,
) -> Result<(Runner, ModelInfo, Option<super::EnsembleSize>), LoadError> {
    // Decoded here rather than by tract's loader, which copies the bytes first; the
    // loader (a registry of every ONNX operator) is built only for a graph tract runs.
    let proto = <ModelProto as prost::Message>::decode(bytes)
        .map_err(|e| LoadError::Decode(e.to_string()))?;
    let info = describe(&proto)?;
    check_output_names(&proto)?;
    // tract indexes by name and asserts in places a malformed file reaches (found by
    // fuzz/load_model): a panic here must be a load error naming the file's problem,
    // not a crash of the server or the converter. Unwind-safe in effect: nothing tract
    // touched is used after a panic.
    let single = single_tree_ensemble(&proto, &info).filter(|_| !through_tract);
    let onnx = std::cell::OnceCell::new();
    let onnx = || onnx.get_or_init(super::onnx_loader);
    let prepare = std::panic::AssertUnwindSafe(|| match single {
        Some(node) => TreeEnsemble::from_node(node).map(Runner::TreeEnsemble),
        None => optimise(onnx(), &proto, &info).map(|plan| Runner::Plan {
            plan,
            idle_states: Mutex::new(Vec::new()),
        }),
    });
    let prepared = std::panic::catch_unwind(prepare).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        LoadError::Tract(format!("the graph is malformed ({message})"))
    })?;
    let runner = prepared.map_err(|e| {
        unknown_operator(onnx(), &proto).unwrap_or_else(|| LoadError::Tract(format!("{e:#}")))
    })?;
    match &runner {
        Runner::Plan { plan, .. } => check_outputs(plan, &info)?,
        // tract would find this out only when a request arrives.
        Runner::TreeEnsemble(op) if op.columns() > info.n_features => {
            return Err(unsupported(format!(
                "the trees read feature {} but input `{}` has {} features",
                op.columns() - 1,
                info.input_name,
                info.n_features
            )))
        }
        Runner::TreeEnsemble(_) => {}
    }
    Ok((runner, info, super::size::ensemble_size(&proto)))
}

/// The graph's only node when it is a tree ensemble reading the graph's input and
/// making exactly the graph's outputs, in order, with the element types the op makes
/// (or none declared). Any other graph goes through tract, which also reports what is
/// wrong with it.
fn single_tree_ensemble<'p>(proto: &'p ModelProto, info: &ModelInfo) -> Option<&'p NodeProto> {
    let graph = proto.graph.as_ref()?;
    let [node] = &graph.node[..] else {
        return None;
    };
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    if node.input != [info.input_name.as_str()] || node.output != outputs {
        return None;
    }
    let label = match (node.op_type.as_str(), &info.task) {
        (
            "TreeEnsembleClassifier",
            Task::Classifier {
                labels: Labels::Int(_),
            },
        ) => DataType::Int64,
        (
            "TreeEnsembleClassifier",
            Task::Classifier {
                labels: Labels::Str(_),
            },
        ) => DataType::String,
        ("TreeEnsembleRegressor", Task::Regressor { .. }) => DataType::Float,
        _ => return None,
    };
    let expected = [label, DataType::Float];
    let declared_as_made = graph.output.iter().zip(expected).all(|(output, made)| {
        match output.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(tensor)) => {
                tensor.elem_type == DataType::Undefined as i32 || tensor.elem_type == made as i32
            }
            None => true,
        }
    });
    declared_as_made.then_some(node)
}

/// Reads input width, outputs, labels and metadata from the protobuf.
fn describe(proto: &ModelProto) -> Result<ModelInfo, LoadError> {
    let graph = proto
        .graph
        .as_ref()
        .filter(|g| !g.node.is_empty())
        .ok_or_else(|| LoadError::Decode("the file holds no graph".into()))?;
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .collect();
    let [input] = inputs[..] else {
        return Err(unsupported(format!(
            "the graph must have exactly one input (a float tensor [N, features]), it has {}",
            inputs.len()
        )));
    };
    let n_features = input_width(input)?;
    if graph.output.is_empty() {
        return Err(unsupported("the graph has no output"));
    }
    let (operator, task) = task(&graph.node)?;
    let metadata = |key: &str| -> Option<Vec<String>> {
        let entry = proto.metadata_props.iter().find(|p| p.key == key)?;
        serde_json::from_str(&entry.value).ok()
    };
    Ok(ModelInfo {
        n_features,
        input_name: input.name.clone(),
        output_names: graph.output.iter().map(|o| o.name.clone()).collect(),
        task,
        feature_names: metadata("feature_names").filter(|names| names.len() == n_features),
        class_names: metadata("class_names"),
        operator,
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
        handles_missing: handles_missing(&graph.node),
    })
}

/// Whether a tree ensemble routes missing values: any node with
/// `nodes_missing_value_tracks_true` set. Without it NaN compares false at every split,
/// which is a branch nobody trained for.
fn handles_missing(nodes: &[NodeProto]) -> bool {
    nodes
        .iter()
        .filter(|node| node.op_type.starts_with("TreeEnsemble"))
        .flat_map(|node| &node.attribute)
        .filter(|attribute| attribute.name == "nodes_missing_value_tracks_true")
        .any(|attribute| attribute.ints.iter().any(|&tracks| tracks != 0))
}

/// The feature count of a float input shaped [N, features].
fn input_width(input: &ValueInfoProto) -> Result<usize, LoadError> {
    let bad = |why: &str| {
        unsupported(format!(
            "input `{}` must be a float tensor [N, features]: {why}",
            input.name
        ))
    };
    let Some(type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(bad("it is not a tensor"));
    };
    if tensor.elem_type != DataType::Float as i32 {
        let name = DataType::try_from(tensor.elem_type)
            .map(|d| d.as_str_name())
            .unwrap_or("an unknown type");
        return Err(bad(&format!("its element type is {name}")));
    }
    let dims = tensor.shape.as_ref().map(|s| &s.dim[..]).unwrap_or(&[]);
    if dims.len() != 2 {
        return Err(bad(&format!("it has {} dimensions", dims.len())));
    }
    match dims[1].value {
        Some(Dim::DimValue(n)) if n > 0 => Ok(n as usize),
        _ => Err(bad("its feature dimension is not a fixed positive number")),
    }
}

/// The operator that makes the model's answer, and what kind of answer it is.
fn task(nodes: &[NodeProto]) -> Result<(String, Task), LoadError> {
    for node in nodes {
        let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
        if let Some((_, int_attr)) = CLASSIFIERS.iter().find(|(op, _)| node.op_type == *op) {
            let labels = match (attr(int_attr), attr("classlabels_strings")) {
                (Some(ints), None) => Labels::Int(ints.ints.clone()),
                (None, Some(strings)) => Labels::Str(
                    strings
                        .strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ),
                _ => {
                    return Err(unsupported(format!(
                        "{} must have exactly one of {int_attr} and classlabels_strings",
                        node.op_type
                    )))
                }
            };
            if labels.is_empty() {
                return Err(unsupported(format!("{} has no class labels", node.op_type)));
            }
            let labels = mapped_labels(nodes, node, labels);
            return Ok((node.op_type.clone(), Task::Classifier { labels }));
        }
        if let Some((_, targets_attr)) = REGRESSORS.iter().find(|(op, _)| node.op_type == *op) {
            let targets = attr(targets_attr).map_or(1, |a| a.i);
            let targets = usize::try_from(targets)
                .ok()
                .filter(|&t| t > 0)
                .ok_or_else(|| {
                    unsupported(format!("{} has {targets_attr} = {targets}", node.op_type))
                })?;
            return Ok((node.op_type.clone(), Task::Regressor { targets }));
        }
    }
    let ops: Vec<&str> = nodes.iter().map(|n| n.op_type.as_str()).collect();
    Err(unsupported(format!(
        "no classifier or regressor operator (TreeEnsembleClassifier, LinearClassifier, \
         TreeEnsembleRegressor, LinearRegressor) among {ops:?}"
    )))
}

/// The labels the model answers with when a CategoryMapper turns the classifier's int
/// labels into strings. tract's LinearClassifier cannot output string labels, so the
/// converter exports string-labelled linear models as LinearClassifier -> CategoryMapper.
fn mapped_labels(nodes: &[NodeProto], classifier: &NodeProto, labels: Labels) -> Labels {
    let (Labels::Int(ints), Some(label_output)) = (&labels, classifier.output.first()) else {
        return labels;
    };
    let Some(mapper) = nodes
        .iter()
        .find(|n| n.op_type == "CategoryMapper" && n.input.first() == Some(label_output))
    else {
        return labels;
    };
    let attr = |name: &str| mapper.attribute.iter().find(|a| a.name == name);
    let (Some(keys), Some(names)) = (attr("cats_int64s"), attr("cats_strings")) else {
        return labels;
    };
    let fallback = attr("default_string").map_or(&b"_Unused"[..], |a| &a.s[..]);
    Labels::Str(
        ints.iter()
            .map(|label| {
                let name = keys
                    .ints
                    .iter()
                    .position(|k| k == label)
                    .and_then(|i| names.strings.get(i))
                    .map_or(fallback, |s| &s[..]);
                String::from_utf8_lossy(name).into_owned()
            })
            .collect(),
    )
}

/// Lets tract parse the graph with the batch dimension symbolic, then optimise it.
fn optimise(
    onnx: &tract_onnx::Onnx,
    proto: &ModelProto,
    info: &ModelInfo,
) -> TractResult<Arc<TypedSimplePlan>> {
    let mut model = onnx.model_for_proto_model(proto)?;
    let batch = model.symbols.sym("N");
    model.set_input_fact(
        0,
        f32::fact(&[batch.to_dim(), info.n_features.to_dim()]).into(),
    )?;
    model.into_optimized()?.into_runnable()
}

#[cfg(test)]
mod tests {
    use super::super::{Model, BUNDLED_MODEL};
    use super::*;

    #[test]
    fn bundled_model_describes_itself() {
        let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let info = model.info();
        assert_eq!(info.n_features, 4);
        let labels = Labels::Int(vec![0, 1, 2]);
        assert_eq!(info.task, Task::Classifier { labels });
        assert_eq!(info.operator, "TreeEnsembleClassifier");
        assert_eq!(info.output_names, ["label", "probabilities"]);
        let names = info.class_names.as_ref().unwrap();
        assert_eq!(names, &["setosa", "versicolor", "virginica"]);
        assert_eq!(info.feature_names.as_ref().map(Vec::len), Some(4));
        // linfa's trees never see missing values, so the export has no missing branches.
        assert!(!info.handles_missing);
    }

    #[test]
    fn a_tree_ensemble_with_missing_branches_takes_missing_values() {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        assert!(!handles_missing(&graph.node));
        let tree = graph
            .node
            .iter_mut()
            .find(|n| n.op_type == "TreeEnsembleClassifier")
            .unwrap();
        let n = tree
            .attribute
            .iter()
            .find(|a| a.name == "nodes_treeids")
            .unwrap()
            .ints
            .len();
        let mut tracks = vec![0; n];
        tree.attribute.push(tract_onnx::pb::AttributeProto {
            name: "nodes_missing_value_tracks_true".into(),
            ints: tracks.clone(),
            r#type: tract_onnx::pb::attribute_proto::AttributeType::Ints as i32,
            ..Default::default()
        });
        assert!(!handles_missing(&graph.node), "all zero: no missing branch");
        tracks[0] = 1;
        let tree = graph
            .node
            .iter_mut()
            .find(|n| n.op_type == "TreeEnsembleClassifier")
            .unwrap();
        tree.attribute.last_mut().unwrap().ints = tracks;
        assert!(handles_missing(&graph.node));
    }

    /// The bundled model's protobuf, to alter.
    fn bundled_proto() -> ModelProto {
        prost::Message::decode(BUNDLED_MODEL).unwrap()
    }

    /// Why `proto` does not load.
    fn load_error(proto: &ModelProto) -> String {
        let bytes = prost::Message::encode_to_vec(proto);
        Model::from_bytes(&bytes).unwrap_err().to_string()
    }

    /// Declares the tensor `value` with element type `elem_type`.
    fn declare(value: &mut ValueInfoProto, elem_type: DataType) {
        let Some(type_proto::Value::TensorType(tensor)) =
            value.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            unreachable!("the bundled model declares tensors")
        };
        tensor.elem_type = elem_type as i32;
    }

    #[test]
    fn a_graph_of_one_tree_ensemble_node_is_run_without_tract() {
        let proto = bundled_proto();
        let info = describe(&proto).unwrap();
        assert!(single_tree_ensemble(&proto, &info).is_some());
        assert!(!Model::from_bytes(BUNDLED_MODEL)
            .unwrap()
            .runs_through_tract());

        // Any other graph goes through tract: a second node (here an unused one) ...
        let mut extra = proto.clone();
        extra.graph.as_mut().unwrap().node.push(NodeProto {
            op_type: "Identity".into(),
            input: vec![info.input_name.clone()],
            output: vec!["copy".into()],
            ..Default::default()
        });
        assert!(single_tree_ensemble(&extra, &info).is_none());
        let bytes = prost::Message::encode_to_vec(&extra);
        assert!(Model::from_bytes(&bytes).unwrap().runs_through_tract());
        // ... only the label as output ...
        let mut label_only = proto.clone();
        label_only.graph.as_mut().unwrap().output.truncate(1);
        assert!(single_tree_ensemble(&label_only, &info).is_none());
        // ... or outputs declared with another element type than the op makes.
        let mut declared_float = proto.clone();
        declare(
            &mut declared_float.graph.as_mut().unwrap().output[0],
            DataType::Float,
        );
        assert!(single_tree_ensemble(&declared_float, &info).is_none());
    }

    #[test]
    fn trees_reading_a_feature_the_input_lacks_are_refused_at_load() {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        let tree = &mut graph.node[0];
        let features = tree
            .attribute
            .iter_mut()
            .find(|a| a.name == "nodes_featureids")
            .unwrap();
        features.ints[0] = 7;
        let err = load_error(&proto);
        assert!(
            err.contains("the trees read feature 7 but input `input` has 4 features"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bytes_that_are_not_onnx() {
        let err = Model::from_bytes(b"this is not a protobuf").unwrap_err();
        assert!(matches!(err, LoadError::Decode(_)), "{err}");
    }

    #[test]
    fn rejects_an_empty_file() {
        let err = Model::from_bytes(b"").unwrap_err();
        assert!(matches!(err, LoadError::Decode(_)), "{err}");
    }

    #[test]
    fn rejects_a_truncated_file() {
        let err = Model::from_bytes(&BUNDLED_MODEL[..BUNDLED_MODEL.len() / 2]).unwrap_err();
        assert!(matches!(err, LoadError::Decode(_)), "{err}");
    }

    #[test]
    fn an_unknown_operator_no_output_needs_is_dropped_and_the_model_loads() {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        let input = graph.input[0].name.clone();
        graph.node.push(tract_onnx::pb::NodeProto {
            op_type: "FrobnicateFeatures".into(),
            input: vec![input],
            output: vec!["unused".into()],
            ..Default::default()
        });
        let bytes = prost::Message::encode_to_vec(&proto);
        assert!(Model::from_bytes(&bytes).is_ok());
    }

    #[test]
    fn rejects_an_output_no_node_makes() {
        let mut proto = bundled_proto();
        proto.graph.as_mut().unwrap().output[1].name = "arpbobilities".into();
        let err = load_error(&proto);
        assert!(
            err.contains("graph output \"arpbobilities\" is not made by any node"),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_model_without_classifier() {
        let mut proto = bundled_proto();
        proto.graph.as_mut().unwrap().node[0].op_type = "Identity".into();
        let err = describe(&proto).unwrap_err();
        assert!(
            err.to_string()
                .contains("no classifier or regressor operator"),
            "{err}"
        );
    }

    #[test]
    fn rejects_an_input_that_is_not_float() {
        let mut proto = bundled_proto();
        declare(&mut proto.graph.as_mut().unwrap().input[0], DataType::Int64);
        let err = describe(&proto).unwrap_err();
        assert!(err.to_string().contains("element type is INT64"), "{err}");
    }
}
