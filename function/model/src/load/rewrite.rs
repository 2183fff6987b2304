//! Rewrites of the protobuf before anything reads it, for what exporters write that has
//! a plain tensor meaning tract can run:
//!
//! - A `ZipMap` (on by default in skl2onnx's and onnxmltools' classifiers: a sequence of
//!   maps class -> probability, one per row) is removed: the graph output it made
//!   becomes its input tensor `[N, classes]`, under the output's own name. Clients ask
//!   for `output_probability` as onnxruntime's did and get the same probabilities, as a
//!   tensor with one column per class in the order of the labels.
//! - Declared output shapes are forgotten: exporters declare odd static ones (LightGBM's
//!   `label` is `[1]`), and what the graph actually produces is checked on tract's
//!   output facts instead (`validate::runner`).

use tract_onnx::pb::{
    tensor_proto::DataType, type_proto, GraphProto, ModelProto, NodeProto, TypeProto,
};

/// Applies every rewrite to `proto`'s graph.
pub(super) fn rewrite(proto: &mut ModelProto) {
    if let Some(graph) = proto.graph.as_mut() {
        remove_zipmaps(graph);
        forget_output_shapes(graph);
    }
}

/// Removes every `ZipMap`, its output becoming the tensor it read.
fn remove_zipmaps(graph: &mut GraphProto) {
    while let Some(at) = graph.node.iter().position(|n| n.op_type == "ZipMap") {
        let zipmap = graph.node.remove(at);
        let (Some(probabilities), Some(output)) = (zipmap.input.first(), zipmap.output.first())
        else {
            continue;
        };
        if renamable(graph, probabilities) {
            // The tensor takes the output's name wherever it appears.
            let names =
                (graph.node.iter_mut()).flat_map(|n| n.input.iter_mut().chain(&mut n.output));
            for name in names.filter(|name| *name == probabilities) {
                name.clone_from(output);
            }
        } else {
            // A graph input or output of its own: keep it, and copy it to the output.
            let identity = NodeProto {
                op_type: "Identity".into(),
                name: zipmap.name.clone(),
                input: vec![probabilities.clone()],
                output: vec![output.clone()],
                ..Default::default()
            };
            graph.node.insert(at, identity);
        }
        for declared in graph.output.iter_mut().filter(|o| o.name == *output) {
            declared.r#type = Some(float_tensor());
        }
        graph.value_info.retain(|info| info.name != *output);
    }
}

/// Whether the tensor `name` is made by a node and nothing but nodes know it, so it
/// can take another name.
fn renamable(graph: &GraphProto, name: &str) -> bool {
    let made = (graph.node.iter()).any(|n| n.output.iter().any(|o| o == name));
    let declared = (graph.input.iter().chain(&graph.output)).any(|v| v.name == name)
        || graph.initializer.iter().any(|t| t.name == name);
    made && !declared
}

/// A float tensor of any shape.
fn float_tensor() -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: DataType::Float as i32,
            shape: None,
        })),
        ..Default::default()
    }
}

/// Drops the shapes declared for graph outputs, in `output` and in `value_info`.
fn forget_output_shapes(graph: &mut GraphProto) {
    for output in &mut graph.output {
        if let Some(type_proto::Value::TensorType(tensor)) =
            output.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            tensor.shape = None;
        }
    }
    let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    graph
        .value_info
        .retain(|info| !outputs.contains(&info.name));
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{bundled_proto, tensor_type};
    use super::*;
    use crate::{Model, Predicted, BUNDLED_MODEL};
    use tract_onnx::pb::{
        tensor_shape_proto::{dimension::Value as Dim, Dimension},
        TensorShapeProto, ValueInfoProto,
    };

    /// The bundled forest as skl2onnx exports a classifier by default: its
    /// probabilities go through a ZipMap to the graph output `output_probability`.
    fn with_zipmap() -> ModelProto {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        graph.node.push(NodeProto {
            op_type: "ZipMap".into(),
            domain: "ai.onnx.ml".into(),
            name: "ZipMap".into(),
            input: vec!["probabilities".into()],
            output: vec!["output_probability".into()],
            ..Default::default()
        });
        graph.output[1] = ValueInfoProto {
            name: "output_probability".into(),
            // A sequence of maps, which tract's protobuf types do not have: no type.
            r#type: Some(TypeProto::default()),
            ..Default::default()
        };
        proto
    }

    #[test]
    fn a_zipmap_is_removed_and_its_output_is_the_probabilities_tensor() {
        let mut proto = with_zipmap();
        rewrite(&mut proto);
        let graph = proto.graph.as_ref().unwrap();
        assert!(graph.node.iter().all(|n| n.op_type != "ZipMap"));
        assert_eq!(graph.node[0].output, ["label", "output_probability"]);
        assert_eq!(graph.output[1].r#type, Some(float_tensor()));
    }

    #[test]
    fn a_classifier_with_a_zipmap_answers_as_without_it() {
        let bytes = prost::Message::encode_to_vec(&with_zipmap());
        let zipped = Model::from_bytes(&bytes).unwrap();
        assert_eq!(zipped.info().output_names, ["label", "output_probability"]);
        let plain = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let batch = crate::Batch::new(vec![5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3], 4);
        let answer = zipped.predict(&batch).unwrap();
        assert_eq!(answer, plain.predict(&batch).unwrap());
        assert!(matches!(answer.predicted, Predicted::Labels(_)));
    }

    #[test]
    fn a_zipmap_reading_a_graph_output_is_replaced_by_a_copy() {
        let mut proto = with_zipmap();
        let graph = proto.graph.as_mut().unwrap();
        let probabilities = ValueInfoProto {
            name: "probabilities".into(),
            ..Default::default()
        };
        graph.output.push(probabilities);
        rewrite(&mut proto);
        let graph = proto.graph.as_ref().unwrap();
        let copy = graph.node.iter().find(|n| n.op_type == "Identity").unwrap();
        assert_eq!(
            (&copy.input[..], &copy.output[..]),
            (
                &["probabilities".to_string()][..],
                &["output_probability".to_string()][..]
            )
        );
    }

    #[test]
    fn an_odd_declared_output_shape_is_not_held_against_the_model() {
        // LightGBM's export declares `label` as [1]; the graph makes [N].
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        tensor_type(&mut graph.output[0]).shape = Some(TensorShapeProto {
            dim: vec![Dimension {
                value: Some(Dim::DimValue(1)),
                ..Default::default()
            }],
        });
        graph.value_info.push(graph.output[0].clone());
        let bytes = prost::Message::encode_to_vec(&proto);
        let model = Model::from_bytes_through_tract(&bytes).unwrap();
        let batch = crate::Batch::new(vec![5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3], 4);
        assert_eq!(model.predict(&batch).unwrap().predicted.rows(), 2);
    }
}
