//! Describing the model from its protobuf: the input's width, what the model answers
//! (classifier with labels, or regressor with targets), metadata and producer.

use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as Dim, type_proto, ModelProto,
    NodeProto, ValueInfoProto,
};

use crate::error::{unsupported, LoadError};
use crate::info::{ModelInfo, Task};
use crate::prediction::Labels;
use crate::tree_ensemble;

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

/// Reads input width, outputs, labels and metadata from the protobuf.
pub(super) fn describe(proto: &ModelProto) -> Result<ModelInfo, LoadError> {
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

/// Whether a tree ensemble routes missing values (see
/// [`tree_ensemble::routes_missing_values`]). Without it NaN compares false at every
/// split, which is a branch nobody trained for.
fn handles_missing(nodes: &[NodeProto]) -> bool {
    nodes
        .iter()
        .filter(|node| node.op_type.starts_with("TreeEnsemble"))
        .any(tree_ensemble::routes_missing_values)
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{bundled_proto, declare};
    use super::*;
    use crate::{Model, BUNDLED_MODEL};

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
