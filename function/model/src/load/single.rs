//! Whether the graph is nothing but one tree-ensemble node, which the op then runs alone
//! (no tract plan to build or run).

use tract_onnx::pb::{tensor_proto::DataType, type_proto, ModelProto, NodeProto};

use crate::info::{ElementType, ModelInfo, Task};
use crate::prediction::Labels;

/// The graph's only node when it is a tree ensemble reading the graph's one input (a
/// float `[N, features]`) and making exactly the graph's outputs, in order, with the
/// element types the op makes (or none declared). Any other graph goes through tract,
/// which also reports what is wrong with it.
pub(super) fn tree_ensemble<'p>(proto: &'p ModelProto, info: &ModelInfo) -> Option<&'p NodeProto> {
    let graph = proto.graph.as_ref()?;
    let [node] = &graph.node[..] else {
        return None;
    };
    let [input] = &info.inputs[..] else {
        return None;
    };
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    if input.element != ElementType::F32
        || input.rank != 2
        || node.input != [input.name.as_str()]
        || node.output != outputs
    {
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
        ("TreeEnsembleRegressor" | "TreeEnsemble", Task::Regressor { .. }) => DataType::Float,
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

#[cfg(test)]
mod tests {
    use super::super::describe::describe;
    use super::super::fixtures::{bundled_proto, declare};
    use super::*;
    use crate::{Model, BUNDLED_MODEL};

    #[test]
    fn a_graph_of_one_tree_ensemble_node_is_run_without_tract() {
        let proto = bundled_proto();
        let info = describe(&proto).unwrap();
        assert!(tree_ensemble(&proto, &info).is_some());
        assert!(!Model::from_bytes(BUNDLED_MODEL)
            .unwrap()
            .runs_through_tract());

        // Any other graph goes through tract: a second node (here an unused one) ...
        let mut extra = proto.clone();
        extra.graph.as_mut().unwrap().node.push(NodeProto {
            op_type: "Identity".into(),
            input: vec![info.inputs[0].name.clone()],
            output: vec!["copy".into()],
            ..Default::default()
        });
        assert!(tree_ensemble(&extra, &info).is_none());
        let bytes = prost::Message::encode_to_vec(&extra);
        assert!(Model::from_bytes(&bytes).unwrap().runs_through_tract());
        // ... only the label as output ...
        let mut label_only = proto.clone();
        label_only.graph.as_mut().unwrap().output.truncate(1);
        assert!(tree_ensemble(&label_only, &info).is_none());
        // ... or outputs declared with another element type than the op makes.
        let mut declared_float = proto.clone();
        declare(
            &mut declared_float.graph.as_mut().unwrap().output[0],
            DataType::Float,
        );
        assert!(tree_ensemble(&declared_float, &info).is_none());
    }
}
