//! Describing the model from its protobuf: its inputs (see `inputs`), what it answers
//! (classifier with labels, or regressor with targets), metadata and producer.

use tract_onnx::pb::{tensor_proto::DataType, ModelProto, NodeProto};

use super::inputs;
use crate::error::{unsupported, LoadError};
use crate::info::{ModelInfo, Task};
use crate::prediction::Labels;

/// The ONNX classifier operators the function serves, with the attribute holding their
/// int64 labels (string labels are `classlabels_strings` for all).
const CLASSIFIERS: [(&str, &str); 3] = [
    ("TreeEnsembleClassifier", "classlabels_int64s"),
    ("LinearClassifier", "classlabels_ints"),
    ("SVMClassifier", "classlabels_ints"),
];
/// The ONNX regressor operators the function serves, with the attribute holding their
/// number of targets (default 1). The opset-5 TreeEnsemble answers `n_targets` scores
/// per row; SVMRegressor has no such attribute, it answers one value.
const REGRESSORS: [(&str, &str); 4] = [
    ("TreeEnsembleRegressor", "n_targets"),
    ("LinearRegressor", "targets"),
    ("TreeEnsemble", "n_targets"),
    ("SVMRegressor", "n_targets"),
];

/// The `metadata_props` key naming the string a missing category is: only the empty
/// string is understood, and `null` in a string input becomes it.
pub const MISSING_CATEGORY: &str = "missing_category";

/// Reads inputs, outputs, labels and metadata from the protobuf.
pub(super) fn describe(proto: &ModelProto) -> Result<ModelInfo, LoadError> {
    let graph = proto
        .graph
        .as_ref()
        .filter(|g| !g.node.is_empty())
        .ok_or_else(|| LoadError::Decode("the file holds no graph".into()))?;
    // A file may say which string stands for a missing category (the converter writes
    // "" for the columns it one-hot encodes): its string inputs then take `null`.
    let missing_category =
        (proto.metadata_props.iter()).any(|p| p.key == MISSING_CATEGORY && p.value.is_empty());
    let inputs = inputs::inputs(graph, missing_category)?;
    if graph.output.is_empty() {
        return Err(unsupported("the graph has no output"));
    }
    let (operator, task) = task(proto, &graph.node)?;
    let metadata = |key: &str| -> Option<Vec<String>> {
        let entry = proto.metadata_props.iter().find(|p| p.key == key)?;
        serde_json::from_str(&entry.value).ok()
    };
    // Names for the columns of a single input; several inputs are named by the graph.
    let feature_names = match &inputs[..] {
        [input] => metadata("feature_names").filter(|names| names.len() == input.width),
        _ => None,
    };
    Ok(ModelInfo {
        inputs,
        output_names: graph.output.iter().map(|o| o.name.clone()).collect(),
        task,
        feature_names,
        class_names: metadata("class_names"),
        operator,
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
    })
}

/// The operator that makes the model's answer, and what kind of answer it is.
fn task(proto: &ModelProto, nodes: &[NodeProto]) -> Result<(String, Task), LoadError> {
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
            let labels = mapped_labels(proto, node, labels);
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
    let known: Vec<&str> = CLASSIFIERS
        .iter()
        .chain(&REGRESSORS)
        .map(|(op, _)| *op)
        .collect();
    Err(unsupported(format!(
        "no classifier or regressor operator ({}) among {ops:?}",
        known.join(", ")
    )))
}

/// The labels the graph answers with: the classifier's, followed from its label output
/// through the nodes exporters put after it (Identity, Cast, CategoryMapper, LabelEncoder:
/// the converter maps a LinearClassifier's int labels to names with a CategoryMapper, as
/// tract's cannot output strings; skl2onnx maps a LabelEncoder-encoded target back with a
/// LabelEncoder). A node that is none of these ends the chain.
fn mapped_labels(proto: &ModelProto, classifier: &NodeProto, labels: Labels) -> Labels {
    let nodes = proto
        .graph
        .as_ref()
        .map_or(&[][..], |graph| &graph.node[..]);
    let mut labels = labels;
    let mut tensor = match classifier.output.first() {
        Some(name) => name,
        None => return labels,
    };
    // Each step moves one node down the graph, so this ends; the bound is for a
    // malformed graph whose nodes feed each other.
    for _ in 0..nodes.len() {
        let Some(next) = nodes.iter().find(|n| n.input.first() == Some(tensor)) else {
            break;
        };
        let mapped = match next.op_type.as_str() {
            "Identity" => Some(labels.clone()),
            "Cast" => cast_labels(next, &labels),
            "CategoryMapper" => category_mapped(next, &labels),
            "LabelEncoder" => crate::ml::label_encoder::map_labels(proto, next, &labels),
            _ => None,
        };
        let (Some(mapped), Some(output)) = (mapped, next.output.first()) else {
            break;
        };
        labels = mapped;
        tensor = output;
    }
    labels
}

/// Labels through a Cast to int64 (ints stay) or to string (ints as decimal text).
fn cast_labels(cast: &NodeProto, labels: &Labels) -> Option<Labels> {
    let to = cast.attribute.iter().find(|a| a.name == "to")?.i;
    match (DataType::try_from(to as i32).ok()?, labels) {
        (DataType::Int64, Labels::Int(_)) | (DataType::String, Labels::Str(_)) => {
            Some(labels.clone())
        }
        (DataType::String, Labels::Int(ints)) => {
            Some(Labels::Str(ints.iter().map(i64::to_string).collect()))
        }
        _ => None,
    }
}

/// Int labels through a CategoryMapper's `cats_int64s` -> `cats_strings`.
fn category_mapped(mapper: &NodeProto, labels: &Labels) -> Option<Labels> {
    let Labels::Int(ints) = labels else {
        return None;
    };
    let attr = |name: &str| mapper.attribute.iter().find(|a| a.name == name);
    let (keys, names) = (attr("cats_int64s")?, attr("cats_strings")?);
    let fallback = attr("default_string").map_or(&b"_Unused"[..], |a| &a.s[..]);
    Some(Labels::Str(
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
    ))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::bundled_proto;
    use super::*;
    use crate::{ElementType, Model, BUNDLED_MODEL};

    #[test]
    fn bundled_model_describes_itself() {
        let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let info = model.info();
        assert_eq!(info.n_features(), 4);
        assert_eq!(info.inputs[0].element, ElementType::F32);
        let labels = Labels::Int(vec![0, 1, 2]);
        assert_eq!(info.task, Task::Classifier { labels });
        assert_eq!(info.operator, "TreeEnsembleClassifier");
        assert_eq!(info.output_names, ["label", "probabilities"]);
        let names = info.class_names.as_ref().unwrap();
        assert_eq!(names, &["setosa", "versicolor", "virginica"]);
        assert_eq!(info.feature_names.as_ref().map(Vec::len), Some(4));
        // A tree ensemble answers a missing value (it takes the comparison's branch).
        assert!(info.handles_missing());
    }

    #[test]
    fn feature_names_of_another_width_are_ignored() {
        let mut proto = bundled_proto();
        let names = proto
            .metadata_props
            .iter_mut()
            .find(|p| p.key == "feature_names")
            .unwrap();
        names.value = r#"["a","b","c"]"#.into();
        assert_eq!(describe(&proto).unwrap().feature_names, None);
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
    fn labels_are_followed_through_the_nodes_after_the_classifier() {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        let label = graph.node[0].output[0].clone();
        graph.node[0].output[0] = "raw_label".into();
        let node = |op: &str, input: &str, output: &str, to: Option<DataType>| NodeProto {
            op_type: op.into(),
            input: vec![input.into()],
            output: vec![output.into()],
            attribute: to
                .map(|to| tract_onnx::pb::AttributeProto {
                    name: "to".into(),
                    i: to as i64,
                    r#type: tract_onnx::pb::attribute_proto::AttributeType::Int as i32,
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        graph.node.push(node("Identity", "raw_label", "same", None));
        graph
            .node
            .push(node("Cast", "same", &label, Some(DataType::String)));
        let info = describe(&proto).unwrap();
        let names = Labels::Str(vec!["0".into(), "1".into(), "2".into()]);
        assert_eq!(info.task, Task::Classifier { labels: names });
    }
}
