//! Whether the graph is nothing but one tree-ensemble node (and `Identity` nodes that
//! rename its outputs), which the op then runs alone (no tract plan to build or run).

use std::collections::HashMap;

use tract_onnx::pb::{tensor_proto::DataType, type_proto, ModelProto, NodeProto};

use crate::info::{ElementType, ModelInfo, Task};
use crate::prediction::Labels;

/// The graph's tree-ensemble node when it is the graph's only node but for `Identity`
/// nodes renaming its outputs (onnxmltools ends a LightGBM regressor with one), reading
/// the graph's one input (a float `[N, features]`) and making exactly the graph's
/// outputs, in order, with the element types the op makes (or none declared). Any other
/// graph goes through tract, which also reports what is wrong with it.
pub(super) fn tree_ensemble<'p>(proto: &'p ModelProto, info: &ModelInfo) -> Option<&'p NodeProto> {
    let graph = proto.graph.as_ref()?;
    let (identities, others): (Vec<&NodeProto>, Vec<&NodeProto>) = graph
        .node
        .iter()
        .partition(|node| node.op_type == "Identity");
    let [node] = others[..] else {
        return None;
    };
    let [input] = &info.inputs[..] else {
        return None;
    };
    let outputs = graph
        .output
        .iter()
        .map(|o| renamed_from(&o.name, &identities))
        .collect::<Option<Vec<&str>>>()?;
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

/// The name `output` is a copy of through a chain of `identities` (itself when no
/// `Identity` makes it); `None` when an `Identity` is malformed (not one input and one
/// output, or two making one name) or the chain loops, which tract then reports.
fn renamed_from<'p>(output: &'p str, identities: &[&'p NodeProto]) -> Option<&'p str> {
    let mut made_by: HashMap<&str, &str> = HashMap::new();
    for identity in identities {
        let ([from], [to]) = (&identity.input[..], &identity.output[..]) else {
            return None;
        };
        if made_by.insert(to.as_str(), from.as_str()).is_some() {
            return None;
        }
    }
    let mut name = output;
    // Each step follows a distinct Identity, so a chain longer than their count loops.
    for _ in 0..=identities.len() {
        match made_by.get(name) {
            Some(&from) => name = from,
            None => return Some(name),
        }
    }
    None
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
            op_type: "Abs".into(),
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

    /// The bundled model with its outputs renamed through `Identity` nodes, `chain` deep
    /// (onnxmltools' LightGBM exports end so).
    fn renamed_through_identities(chain: usize) -> ModelProto {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        for (k, name) in outputs.iter().enumerate() {
            let inner = |step: usize| format!("{name}_copy{step}");
            graph.node[0].output[k] = inner(0);
            for step in 0..chain {
                let to = if step + 1 == chain {
                    name.clone()
                } else {
                    inner(step + 1)
                };
                graph.node.push(NodeProto {
                    op_type: "Identity".into(),
                    input: vec![inner(step)],
                    output: vec![to],
                    ..Default::default()
                });
            }
        }
        proto
    }

    #[test]
    fn outputs_renamed_through_identities_are_run_without_tract_and_answer_as_tract() {
        for chain in [1, 3] {
            let proto = renamed_through_identities(chain);
            let info = describe(&proto).unwrap();
            assert!(tree_ensemble(&proto, &info).is_some(), "chain {chain}");
            let bytes = prost::Message::encode_to_vec(&proto);
            let direct = Model::from_bytes(&bytes).unwrap();
            let planned = Model::from_bytes_through_tract(&bytes).unwrap();
            assert!(!direct.runs_through_tract() && planned.runs_through_tract());
            // Every corner of Iris' ranges, and beyond them.
            let rows: Vec<f32> = (0..81)
                .flat_map(|i: usize| (0..4).map(move |f| [0.0, 3.0, 9.0][i / 3usize.pow(f) % 3]))
                .collect();
            let batch = crate::Batch::new(rows, 4);
            assert_eq!(
                direct.predict(&batch).unwrap(),
                planned.predict(&batch).unwrap()
            );
        }
    }

    #[test]
    fn identities_that_do_not_only_rename_the_outputs_go_through_tract() {
        let info = describe(&bundled_proto()).unwrap();
        // An Identity of the input in place of the tree's output.
        let mut proto = renamed_through_identities(1);
        let graph = proto.graph.as_mut().unwrap();
        graph.node[1].input = vec![info.inputs[0].name.clone()];
        assert!(tree_ensemble(&proto, &info).is_none());
        // Two Identities making one name.
        let mut proto = renamed_through_identities(1);
        let graph = proto.graph.as_mut().unwrap();
        let twin = graph.node[1].clone();
        graph.node.push(twin);
        assert!(tree_ensemble(&proto, &info).is_none());
        // The outputs swapped by the renaming.
        let mut proto = renamed_through_identities(1);
        let graph = proto.graph.as_mut().unwrap();
        let (label, scores) = (graph.node[1].input.clone(), graph.node[2].input.clone());
        graph.node[1].input = scores;
        graph.node[2].input = label;
        assert!(tree_ensemble(&proto, &info).is_none());
        // A loop of Identities.
        let mut proto = renamed_through_identities(2);
        let graph = proto.graph.as_mut().unwrap();
        graph.node[1].input = graph.node[2].output.clone();
        assert!(tree_ensemble(&proto, &info).is_none());
    }
}
