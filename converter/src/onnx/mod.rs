//! ONNX export: builds `tract_onnx::pb` (prost) messages for an `ai.onnx.ml` classifier
//! and encodes them. `forest` and `linear` build the node; this module wraps it in a
//! standard model with a symbolic batch dimension and the metadata the function reads.

mod forest;
mod linear;
mod prelude;

pub use forest::{forest_node, regressor_node};
pub use linear::{linear_nodes, linear_regressor_node};
pub use prelude::{prelude, Prelude, FEATURES};

use prost::Message;

use crate::data::ClassLabels;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// IR version 8 (ONNX 1.10+): old enough for every maintained runtime, new enough for
/// the ai.onnx.ml opset 3 classifiers.
const IR_VERSION: i64 = 8;
/// Default-domain opset the file declares (`Concat` and `Reshape` of the prelude).
const ONNX_OPSET: i64 = 17;
/// The `ai.onnx.ml` opset: version 3 holds TreeEnsembleClassifier and LinearClassifier
/// as every runtime implements them.
const ML_OPSET: i64 = 3;
/// Domain of the classical machine-learning operators.
pub const ML_DOMAIN: &str = "ai.onnx.ml";

/// Name of the graph input: float [N, features].
pub const INPUT: &str = "input";
/// Name of the label output: int64 [N].
pub const LABEL: &str = "label";
/// Name of the probabilities output: float [N, classes].
pub const PROBABILITIES: &str = "probabilities";
/// Name of a regressor's output: float [N, 1] (skl2onnx's name for it).
pub const VARIABLE: &str = "variable";
/// Name of the symbolic batch dimension.
const BATCH: &str = "N";

/// Metadata keys the function reads back (values are JSON arrays of strings).
pub mod keys {
    /// Column names, in input order.
    pub const FEATURE_NAMES: &str = "feature_names";
    /// Class names, in the order of the label values.
    pub const CLASS_NAMES: &str = "class_names";
    /// What was trained (`random_forest`, `logistic_regression`).
    pub const MODEL_TYPE: &str = "model_type";
    /// The category a missing value of a string input is (always the empty string);
    /// the function then takes `null` for it.
    pub const MISSING_CATEGORY: &str = "missing_category";
}

/// What the exported file says about itself beyond the graph.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Whether the labels are strings (`classlabels_strings`) rather than int64.
    pub string_labels: bool,
    /// Column names, one per input feature.
    pub feature_names: Vec<String>,
    /// Class names, one per class label.
    pub class_names: Vec<String>,
    /// A regressor (output [`VARIABLE`]) rather than a classifier.
    pub regression: bool,
    /// Short model kind stored under `model_type`.
    pub model_type: &'static str,
    /// A sentence for the model's `doc_string`.
    pub description: String,
}

/// Wraps the nodes of a classifier (input [`INPUT`], outputs [`LABEL`],
/// [`PROBABILITIES`]) or a regressor (output [`VARIABLE`]) in a complete model. With a
/// `prelude`, the graph takes its inputs instead, and the model reads the prelude's
/// [`FEATURES`].
pub fn tabular_model(
    mut nodes: Vec<NodeProto>,
    info: &ModelInfo,
    prelude: Option<Prelude>,
) -> ModelProto {
    let n_features = info.feature_names.len() as i64;
    let n_classes = info.class_names.len() as i64;
    let takes_missing_categories = prelude.as_ref().is_some_and(|p| p.categorical);
    let (input, initializer) = match prelude {
        None => (
            vec![tensor_info(
                INPUT,
                DataType::Float,
                &[None, Some(n_features)],
            )],
            vec![],
        ),
        Some(prelude) => {
            for node in &mut nodes {
                for input in &mut node.input {
                    if input == INPUT {
                        *input = FEATURES.to_string();
                    }
                }
            }
            nodes.splice(0..0, prelude.nodes);
            (prelude.inputs, prelude.initializers)
        }
    };
    let graph = GraphProto {
        name: info.model_type.to_string(),
        node: nodes,
        initializer,
        input,
        output: if info.regression {
            vec![tensor_info(VARIABLE, DataType::Float, &[None, Some(1)])]
        } else {
            vec![
                tensor_info(
                    LABEL,
                    if info.string_labels {
                        DataType::String
                    } else {
                        DataType::Int64
                    },
                    &[None],
                ),
                tensor_info(PROBABILITIES, DataType::Float, &[None, Some(n_classes)]),
            ]
        },
        ..GraphProto::default()
    };
    let json = |names: &[String]| serde_json::to_string(names).expect("strings serialise");
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![opset("", ONNX_OPSET), opset(ML_DOMAIN, ML_OPSET)],
        producer_name: env!("CARGO_PKG_NAME").to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        model_version: 1,
        doc_string: info.description.clone(),
        graph: Some(graph),
        metadata_props: [
            Some(entry(keys::FEATURE_NAMES, json(&info.feature_names))),
            (!info.regression).then(|| entry(keys::CLASS_NAMES, json(&info.class_names))),
            Some(entry(keys::MODEL_TYPE, info.model_type.to_string())),
            takes_missing_categories.then(|| {
                entry(
                    keys::MISSING_CATEGORY,
                    crate::data::columns::MISSING_CATEGORY.to_string(),
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect(),
        ..ModelProto::default()
    }
}

/// The protobuf encoding of `model`: deterministic, since prost writes fields in tag
/// order and we use no maps.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// A node of the `ai.onnx.ml` domain reading [`INPUT`] and writing both outputs.
pub fn ml_node(op_type: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: vec![INPUT.to_string()],
        output: vec![LABEL.to_string(), PROBABILITIES.to_string()],
        name: op_type.to_string(),
        op_type: op_type.to_string(),
        domain: ML_DOMAIN.to_string(),
        attribute: attributes,
        ..NodeProto::default()
    }
}

/// The class labels attribute: `int_name` (`classlabels_int64s` of the tree ensemble,
/// `classlabels_ints` of the linear classifier) for integers, `classlabels_strings`
/// for strings.
pub fn class_labels(int_name: &str, labels: &ClassLabels) -> AttributeProto {
    match labels {
        ClassLabels::Int(values) => ints(int_name, values.clone()),
        ClassLabels::Str(names) => strings(
            "classlabels_strings",
            names.iter().map(String::as_str).collect(),
        ),
    }
}

/// An `ints` attribute.
pub fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Ints as i32,
        ints: values,
        ..AttributeProto::default()
    }
}

/// A `floats` attribute.
pub fn floats(name: &str, values: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Floats as i32,
        floats: values,
        ..AttributeProto::default()
    }
}

/// A `float` attribute.
pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..AttributeProto::default()
    }
}

/// A `strings` attribute.
pub fn strings(name: &str, values: Vec<&str>) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Strings as i32,
        strings: values.into_iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..AttributeProto::default()
    }
}

/// A `string` attribute.
pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..AttributeProto::default()
    }
}

/// An `int` attribute.
pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..AttributeProto::default()
    }
}

/// A tensor value description; `None` dimensions are the symbolic batch size.
pub fn tensor_info(name: &str, elem_type: DataType, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
                None => tensor_shape_proto::dimension::Value::DimParam(BATCH.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto {
        domain: domain.to_string(),
        version,
    }
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.to_string(),
        value,
    }
}
