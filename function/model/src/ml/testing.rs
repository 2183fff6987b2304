//! What the ml operators' tests build nodes and graphs with, and run them through: a
//! kernel alone, tract's loader, or the whole model runtime.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

use crate::runner::onnx_loader;
use crate::tract_op::Kernel;

/// A node of operator `op` named `n`, from input `x` to output `y`.
pub fn node(op: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: "n".into(),
        op_type: op.into(),
        input: vec!["x".into()],
        output: vec!["y".into()],
        attribute,
        ..Default::default()
    }
}

/// A node of ai.onnx.ml operator `op` from `inputs` to `outputs`, named after its
/// operator and first output.
pub fn wired(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        name: format!("{op}_{}", outputs.first().copied().unwrap_or_default()),
        op_type: op.into(),
        domain: "ai.onnx.ml".into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A node of standard ONNX operator `op` from `inputs` to its one `output`.
pub fn standard(
    op: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        domain: String::new(),
        ..wired(op, inputs, &[output], attribute)
    }
}

/// An attribute named `name` declared of type `kind`, as exporters write them (tract
/// checks the declared type).
fn attribute(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

/// A `floats` attribute.
pub fn floats(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto {
        floats,
        ..attribute(name, AttributeType::Floats)
    }
}

/// An `ints` attribute.
pub fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        ints,
        ..attribute(name, AttributeType::Ints)
    }
}

/// A `strings` attribute.
pub fn strings(name: &str, strings: &[&str]) -> AttributeProto {
    AttributeProto {
        strings: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attribute(name, AttributeType::Strings)
    }
}

/// A `string` attribute.
pub fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        s: s.as_bytes().to_vec(),
        ..attribute(name, AttributeType::String)
    }
}

/// A `float` attribute.
pub fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        f,
        ..attribute(name, AttributeType::Float)
    }
}

/// An `int` attribute.
pub fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        i,
        ..attribute(name, AttributeType::Int)
    }
}

/// A tensor attribute holding `t`.
pub fn tensor_attribute(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        t: Some(t),
        ..attribute(name, AttributeType::Tensor)
    }
}

/// A one-dimensional FLOAT tensor.
pub fn float_tensor(values: Vec<f32>) -> TensorProto {
    TensorProto {
        data_type: DataType::Float as i32,
        dims: vec![values.len() as i64],
        float_data: values,
        ..Default::default()
    }
}

/// A one-dimensional UINT8 tensor, values in `int32_data` as ONNX stores them.
pub fn uint8_tensor(values: Vec<u8>) -> TensorProto {
    TensorProto {
        data_type: DataType::Uint8 as i32,
        dims: vec![values.len() as i64],
        int32_data: values.into_iter().map(i32::from).collect(),
        ..Default::default()
    }
}

/// A one-dimensional INT64 tensor named `name` (an initializer).
pub fn int64_tensor(name: &str, values: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: DataType::Int64 as i32,
        dims: vec![values.len() as i64],
        int64_data: values,
        ..Default::default()
    }
}

/// A one-dimensional STRING tensor.
pub fn string_tensor(values: &[&str]) -> TensorProto {
    TensorProto {
        data_type: DataType::String as i32,
        dims: vec![values.len() as i64],
        string_data: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

/// Runs `kernel` on `inputs`.
pub fn run(kernel: &dyn Kernel, inputs: Vec<Tensor>) -> TractResult<Vec<Tensor>> {
    let outputs = kernel.eval(inputs.into_iter().map(|t| t.into_tvalue()).collect())?;
    Ok(outputs.into_iter().map(|t| t.into_tensor()).collect())
}

/// The one output of `kernel` run on `input`.
pub fn run_1(kernel: &dyn Kernel, input: Tensor) -> Tensor {
    run(kernel, vec![input]).unwrap().remove(0)
}

/// A graph input or output: a tensor of `elem_type` whose dimensions are `dims`, `None`
/// for the batch dimension `N`.
pub fn value(name: &str, elem_type: DataType, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = (dims.iter())
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n),
                None => dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model of `nodes` from `inputs` to `outputs`, with `initializers`, importing
/// ai.onnx.ml at `ml_opset`.
pub fn model(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    initializers: Vec<TensorProto>,
    ml_opset: i64,
) -> ModelProto {
    let opset = |domain: &str, version| OperatorSetIdProto {
        domain: domain.into(),
        version,
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![opset("", 17), opset("ai.onnx.ml", ml_opset)],
        graph: Some(GraphProto {
            name: "g".into(),
            node: nodes,
            input: inputs,
            output: outputs,
            initializer: initializers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs `proto` through tract's loader with our operators, optimised, on `inputs`.
pub fn through_tract(proto: &ModelProto, inputs: Vec<Tensor>) -> TractResult<Vec<Tensor>> {
    let plan = onnx_loader()
        .model_for_proto_model(proto)?
        .into_optimized()?
        .into_runnable()?;
    let outputs = plan.run(inputs.into_iter().map(|t| t.into_tvalue()).collect())?;
    Ok(outputs.into_iter().map(|t| t.into_tensor()).collect())
}

/// Why tract's loader with our operators refuses `proto`.
pub fn refusal(proto: &ModelProto) -> String {
    let loaded = onnx_loader()
        .model_for_proto_model(proto)
        .and_then(|model| model.into_optimized());
    match loaded {
        Ok(_) => panic!("the model is refused"),
        Err(e) => format!("{e:#}"),
    }
}

/// `proto` loaded as the function serves models.
pub fn served(proto: &ModelProto) -> crate::Model {
    crate::Model::from_bytes(&prost::Message::encode_to_vec(proto)).unwrap()
}

/// What `model` answers for `rows` of `width` features.
pub fn predicted(model: &crate::Model, rows: Vec<f32>, width: usize) -> crate::Prediction {
    model.predict(&crate::Batch::new(rows, width)).unwrap()
}

/// An opset-5 TreeEnsemble's attributes: one tree whose node 0 tests `x0 in {1, 3, 5}`
/// (true: leaf 0, weight 10; false: node 1), node 1 `x1 < 0.5` (true: leaf 1, 20;
/// false: leaf 2, 30); `tracks` is `nodes_missing_value_tracks_true`.
pub fn member_tree(tracks: Vec<i64>) -> Vec<AttributeProto> {
    vec![
        ints("nodes_featureids", vec![0, 1]),
        tensor_attribute("nodes_modes", uint8_tensor(vec![6, 1])),
        tensor_attribute("nodes_splits", float_tensor(vec![0.0, 0.5])),
        ints("nodes_truenodeids", vec![0, 1]),
        ints("nodes_trueleafs", vec![1, 1]),
        ints("nodes_falsenodeids", vec![1, 2]),
        ints("nodes_falseleafs", vec![0, 1]),
        ints("nodes_missing_value_tracks_true", tracks),
        tensor_attribute(
            "membership_values",
            float_tensor(vec![1.0, 3.0, 5.0, f32::NAN]),
        ),
        ints("leaf_targetids", vec![0, 0, 0]),
        tensor_attribute("leaf_weights", float_tensor(vec![10.0, 20.0, 30.0])),
        ints("tree_roots", vec![0]),
        int("n_targets", 1),
    ]
}

/// An SVMClassifier's attributes: two classes (labels 10, 20) with one support vector
/// each, [1] and [-1], a linear kernel, coefficients [0.5, -0.5] and rho 0.1: the
/// decision for row [x] is 0.5 x + 0.5 x + 0.1 = x + 0.1, positive votes for 10.
pub fn two_class_svm() -> Vec<AttributeProto> {
    vec![
        ints("classlabels_ints", vec![10, 20]),
        ints("vectors_per_class", vec![1, 1]),
        floats("support_vectors", vec![1.0, -1.0]),
        floats("coefficients", vec![0.5, -0.5]),
        floats("rho", vec![0.1]),
        string("kernel_type", "LINEAR"),
    ]
}
