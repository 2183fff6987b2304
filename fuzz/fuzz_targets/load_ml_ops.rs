//! The ml operators' loaders on fuzzed attributes: a graph of one float input [N, w],
//! one operator (Scaler, Imputer, Binarizer, ArrayFeatureExtractor, FeatureVectorizer,
//! LabelEncoder, OneHotEncoder, SVMClassifier, SVMRegressor, opset-5 TreeEnsemble)
//! whose attributes are drawn from the input (short lists of any floats, NaN and
//! infinities included, small integers around the valid ranges, names among the
//! accepted ones and a few others), then an SVMRegressor after a transform; loaded as
//! the function loads models and, when it loads, asked a fuzzed row. An error or a
//! prediction, never a panic.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use model::{Batch, Model, BUNDLED_MODEL};
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TypeProto, ValueInfoProto,
};

fuzz_target!(
    init: {
        // As in load_model: loading turns tract's panics into errors, which
        // libfuzzer-sys's hook would otherwise abort on before they are caught.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    },
    |bytes: &[u8]| {
        let mut u = Unstructured::new(bytes);
        let Ok(proto) = graph(&mut u) else { return };
        let Ok(model) = Model::from_bytes(&prost::Message::encode_to_vec(&proto)) else {
            return;
        };
        let width = model.n_features();
        let row: Vec<f32> = (0..width).map(|_| number(&mut u).unwrap_or(0.0)).collect();
        let _ = model.predict(&Batch::new(row, width));
    }
);

/// A model of one operator in a graph, importing the ai.onnx.ml opset it belongs to.
fn graph(u: &mut Unstructured) -> Result<ModelProto> {
    let width: i64 = u.int_in_range(1..=6)?;
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut ml_opset = 3;
    let head = match u.int_in_range(0..=9)? {
        0 => transform(
            &mut nodes,
            "Scaler",
            &["x"],
            vec![floats(u, "offset")?, floats(u, "scale")?],
        ),
        1 => {
            let attributes = vec![
                floats(u, "imputed_value_floats")?,
                ints(u, "imputed_value_int64s", -1..=3)?,
                float(u, "replaced_value_float")?,
            ];
            transform(&mut nodes, "Imputer", &["x"], some(u, attributes)?)
        }
        2 => {
            let threshold = vec![float(u, "threshold")?];
            transform(&mut nodes, "Binarizer", &["x"], some(u, threshold)?)
        }
        3 => {
            initializers.push(int64s("indices", list(u, |u| u.int_in_range(-1..=7))?));
            transform(
                &mut nodes,
                "ArrayFeatureExtractor",
                &["x", "indices"],
                vec![],
            )
        }
        4 => {
            let inputs: &[&str] = if u.ratio(1, 2)? { &["x"] } else { &["x", "x"] };
            transform(
                &mut nodes,
                "FeatureVectorizer",
                inputs,
                vec![ints(u, "inputdimensions", -1..=8)?],
            )
        }
        5 => {
            ml_opset = u.int_in_range(1..=4)?;
            let attributes = label_encoder(u)?;
            let attributes = some(u, attributes)?;
            transform(&mut nodes, "LabelEncoder", &["x"], attributes)
        }
        6 => {
            nodes.push(node("Cast", &["x"], &["ints"], vec![int(u, "to", 7..=7)?]));
            let attributes = vec![
                ints(u, "cats_int64s", -1..=4)?,
                strings(u, "cats_strings")?,
                int(u, "zeros", 0..=2)?,
            ];
            nodes.push(node(
                "OneHotEncoder",
                &["ints"],
                &["encoded"],
                some(u, attributes)?,
            ));
            initializers.push(int64s("shape", vec![-1, u.int_in_range(1..=12)?]));
            transform(&mut nodes, "Reshape", &["encoded", "shape"], vec![])
        }
        7 => {
            nodes.push(node(
                "SVMClassifier",
                &["x"],
                &["label", "scores"],
                svm(u, true)?,
            ));
            Head::Classifier
        }
        8 => {
            nodes.push(node("SVMRegressor", &["x"], &["y"], svm(u, false)?));
            Head::Regressor
        }
        _ => {
            ml_opset = 5;
            nodes.push(node("TreeEnsemble", &["x"], &["y"], tree_ensemble(u)?));
            Head::Regressor
        }
    };
    if let Head::Transform(output) = &head {
        // The model's head: our SVMRegressor in its linear layout, which refuses at load
        // rows of another width than its coefficients (as our LinearRegressor does).
        let head = vec![floats(u, "coefficients")?, floats(u, "rho")?];
        nodes.push(node("SVMRegressor", &[output.as_str()], &["y"], head));
    }
    let outputs = match head {
        Head::Classifier => vec![
            output("label", DataType::Int64),
            output("scores", DataType::Float),
        ],
        _ => vec![output("y", DataType::Float)],
    };
    let opset = |domain: &str, version| OperatorSetIdProto {
        domain: domain.into(),
        version,
    };
    Ok(ModelProto {
        ir_version: 8,
        opset_import: vec![opset("", 17), opset("ai.onnx.ml", ml_opset)],
        graph: Some(GraphProto {
            node: nodes,
            input: vec![input(width)],
            output: outputs,
            initializer: initializers,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// What ends the graph: a transform's output the head regressor takes, or the operator.
enum Head {
    Transform(String),
    Classifier,
    Regressor,
}

/// Adds a transform node from `inputs` to `t`.
fn transform(
    nodes: &mut Vec<NodeProto>,
    op: &str,
    inputs: &[&str],
    attributes: Vec<AttributeProto>,
) -> Head {
    nodes.push(node(op, inputs, &["t"], attributes));
    Head::Transform("t".into())
}

/// LabelEncoder attributes of every opset, keys numbers (the input is float).
fn label_encoder(u: &mut Unstructured) -> Result<Vec<AttributeProto>> {
    Ok(vec![
        strings(u, "classes_strings")?,
        floats(u, "keys_floats")?,
        floats(u, "values_floats")?,
        ints(u, "values_int64s", -2..=2)?,
        strings(u, "values_strings")?,
        float(u, "default_float")?,
        int(u, "default_int64", -1..=1)?,
        tensor(u, "keys_tensor", DataType::Float)?,
        tensor(u, "values_tensor", DataType::Int64)?,
        tensor(u, "default_tensor", DataType::Float)?,
    ])
}

/// SVMClassifier (`classifier`) or SVMRegressor attributes.
fn svm(u: &mut Unstructured, classifier: bool) -> Result<Vec<AttributeProto>> {
    let kernel = *u.choose(&["LINEAR", "POLY", "RBF", "SIGMOID", "CUBIC"])?;
    let post = *u.choose(&["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"])?;
    let mut attributes = vec![
        string("kernel_type", kernel),
        string("post_transform", post),
        floats(u, "kernel_params")?,
        floats(u, "coefficients")?,
        floats(u, "support_vectors")?,
        floats(u, "rho")?,
    ];
    if classifier {
        attributes.extend([
            ints(u, "classlabels_ints", 0..=3)?,
            strings(u, "classlabels_strings")?,
            ints(u, "vectors_per_class", -1..=3)?,
            floats(u, "prob_a")?,
            floats(u, "prob_b")?,
        ]);
    } else {
        attributes.extend([int(u, "n_supports", -1..=4)?, int(u, "one_class", 0..=2)?]);
    }
    some(u, attributes)
}

/// Opset-5 TreeEnsemble attributes over a handful of nodes and leaves.
fn tree_ensemble(u: &mut Unstructured) -> Result<Vec<AttributeProto>> {
    let attributes = vec![
        ints(u, "nodes_featureids", -1..=6)?,
        tensor(u, "nodes_modes", DataType::Uint8)?,
        tensor(u, "nodes_splits", DataType::Float)?,
        ints(u, "nodes_truenodeids", -1..=6)?,
        ints(u, "nodes_trueleafs", 0..=1)?,
        ints(u, "nodes_falsenodeids", -1..=6)?,
        ints(u, "nodes_falseleafs", 0..=1)?,
        ints(u, "nodes_missing_value_tracks_true", 0..=1)?,
        tensor(u, "membership_values", DataType::Float)?,
        ints(u, "leaf_targetids", -1..=2)?,
        tensor(u, "leaf_weights", DataType::Float)?,
        ints(u, "tree_roots", -1..=6)?,
        int(u, "n_targets", -1..=3)?,
        int(u, "aggregate_function", -1..=4)?,
        int(u, "post_transform", -1..=5)?,
    ];
    some(u, attributes)
}

/// Each of `attributes`, or not.
fn some(u: &mut Unstructured, attributes: Vec<AttributeProto>) -> Result<Vec<AttributeProto>> {
    let mut kept = Vec::new();
    for attribute in attributes {
        if u.ratio(3, 4)? {
            kept.push(attribute);
        }
    }
    Ok(kept)
}

/// A small value, or any float (NaN and infinities included).
fn number(u: &mut Unstructured) -> Result<f32> {
    if u.ratio(3, 4)? {
        Ok(u.int_in_range(-8i8..=8)? as f32 / 2.0)
    } else {
        u.arbitrary()
    }
}

/// Up to 8 items.
fn list<T>(
    u: &mut Unstructured,
    mut item: impl FnMut(&mut Unstructured) -> Result<T>,
) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=8)?;
    (0..n).map(|_| item(u)).collect()
}

fn attribute(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

fn floats(u: &mut Unstructured, name: &str) -> Result<AttributeProto> {
    Ok(AttributeProto {
        floats: list(u, number)?,
        ..attribute(name, AttributeType::Floats)
    })
}

fn ints(
    u: &mut Unstructured,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<AttributeProto> {
    let ints = list(u, |u| u.int_in_range(range.clone()))?;
    Ok(AttributeProto {
        ints,
        ..attribute(name, AttributeType::Ints)
    })
}

fn strings(u: &mut Unstructured, name: &str) -> Result<AttributeProto> {
    let strings = list(u, |u| Ok(u.choose(&["a", "b", ""])?.as_bytes().to_vec()))?;
    Ok(AttributeProto {
        strings,
        ..attribute(name, AttributeType::Strings)
    })
}

fn float(u: &mut Unstructured, name: &str) -> Result<AttributeProto> {
    Ok(AttributeProto {
        f: number(u)?,
        ..attribute(name, AttributeType::Float)
    })
}

fn int(
    u: &mut Unstructured,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<AttributeProto> {
    Ok(AttributeProto {
        i: u.int_in_range(range)?,
        ..attribute(name, AttributeType::Int)
    })
}

fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        s: s.as_bytes().to_vec(),
        ..attribute(name, AttributeType::String)
    }
}

/// A tensor attribute of `data_type` (or, sometimes, DOUBLE), of up to 8 values.
fn tensor(u: &mut Unstructured, name: &str, data_type: DataType) -> Result<AttributeProto> {
    let mut t = TensorProto {
        data_type: data_type as i32,
        ..Default::default()
    };
    match data_type {
        DataType::Uint8 => t.int32_data = list(u, |u| u.int_in_range(0..=7))?,
        DataType::Int64 => t.int64_data = list(u, |u| u.int_in_range(-1..=3))?,
        _ if u.ratio(1, 8)? => {
            t.data_type = DataType::Double as i32;
            t.double_data = list(u, |u| Ok(f64::from(number(u)?)))?;
        }
        _ => t.float_data = list(u, number)?,
    }
    let len = t.int32_data.len() + t.int64_data.len() + t.float_data.len() + t.double_data.len();
    t.dims = vec![len as i64];
    Ok(AttributeProto {
        t: Some(t),
        ..attribute(name, AttributeType::Tensor)
    })
}

/// An INT64 initializer.
fn int64s(name: &str, values: Vec<i64>) -> TensorProto {
    let mut t = TensorProto {
        name: name.into(),
        ..Default::default()
    };
    t.data_type = DataType::Int64 as i32;
    t.dims = vec![values.len() as i64];
    t.int64_data = values;
    t
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: op.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// The bundled model's input declaration, a float [N, 4], renamed `x` and made
/// `width` wide.
fn input(width: i64) -> ValueInfoProto {
    let bundled: ModelProto =
        prost::Message::decode(BUNDLED_MODEL).expect("the bundled model decodes");
    let mut input = bundled
        .graph
        .expect("the bundled model has a graph")
        .input
        .remove(0);
    input.name = "x".into();
    let tensor = input.r#type.as_mut().and_then(|t| t.value.as_mut());
    if let Some(type_proto::Value::TensorType(t)) = tensor {
        if let Some(features) = t.shape.as_mut().and_then(|s| s.dim.get_mut(1)) {
            features.value = Some(dimension::Value::DimValue(width));
        }
    }
    input
}

/// An output declared by name and element type only (tract infers its shape).
fn output(name: &str, elem_type: DataType) -> ValueInfoProto {
    let tensor = type_proto::Tensor {
        elem_type: elem_type as i32,
        shape: None,
    };
    let r#type = TypeProto {
        value: Some(type_proto::Value::TensorType(tensor)),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(r#type),
        ..Default::default()
    }
}
