//! Checks around tract's load: before it (every graph output made by a node, since
//! tract panics otherwise), when it fails (an unknown operator, named), and after it
//! (the runner's outputs and columns are what a classifier or regressor of these inputs
//! must have, as tract's analysis of the graph says, whatever the file declared).

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::{unsupported, LoadError};
use crate::info::{ModelInfo, Task};
use crate::runner::Runner;

/// The first operator tract has no implementation for, as a load error: clearer than
/// tract's "Unimplemented(...) ... can not be made a TypedOp". Asked only once tract has
/// failed, since tract drops nodes no output needs, whatever their operator.
pub(super) fn unknown_operator(onnx: &tract_onnx::Onnx, proto: &ModelProto) -> Option<LoadError> {
    let node = proto
        .graph
        .iter()
        .flat_map(|graph| &graph.node)
        .find(|node| !onnx.op_register.0.contains_key(&node.op_type))?;
    Some(unsupported(format!(
        "operator {:?} (node {:?}) is not supported by tract; export the model with \
         standard ONNX and ai.onnx.ml operators",
        node.op_type, node.name
    )))
}

/// Every graph output must be made by a node or be an input: tract panics otherwise.
pub(super) fn output_names(proto: &ModelProto) -> Result<(), LoadError> {
    let Some(graph) = proto.graph.as_ref() else {
        return Ok(());
    };
    let made = |name: &str| {
        graph
            .node
            .iter()
            .any(|n| n.output.iter().any(|o| o == name))
            || graph.input.iter().any(|i| i.name == name)
            || graph.initializer.iter().any(|t| t.name == name)
    };
    match graph.output.iter().find(|output| !made(&output.name)) {
        Some(output) => Err(unsupported(format!(
            "graph output {:?} is not made by any node",
            output.name
        ))),
        None => Ok(()),
    }
}

/// What tract checks only when a request arrives, checked at load: a plan's outputs
/// (see [`plan_outputs`]), and that the trees run directly read no feature the input
/// lacks.
pub(super) fn runner(runner: &Runner, info: &ModelInfo) -> Result<(), LoadError> {
    match runner {
        Runner::Plan(plan) => plan_outputs(plan.model(), info),
        Runner::TreeEnsemble(op) if op.columns() > info.n_features() => Err(unsupported(format!(
            "the trees read feature {} but input `{}` has {} features",
            op.columns() - 1,
            info.inputs[0].name,
            info.n_features()
        ))),
        Runner::TreeEnsemble(_) => Ok(()),
    }
}

/// A classifier's first output must be one label per row and a second, if any, one
/// probability per row and class; a regressor's first output one row of values per row.
/// One value per row may be `[N]` or `[N, 1]` (exporters write either).
fn plan_outputs(model: &TypedModel, info: &ModelInfo) -> Result<(), LoadError> {
    let fact = |i: usize| {
        model
            .output_fact(i)
            .map_err(|e| LoadError::Tract(format!("{e:#}")))
    };
    let first = fact(0)?;
    let width = |fact: &TypedFact| match fact.rank() {
        1 => Some(1),
        2 => fact.shape.get(1).and_then(|d| d.to_usize().ok()),
        _ => None,
    };
    match &info.task {
        Task::Regressor { targets } => {
            if width(first) != Some(*targets) || !first.datum_type.is_float() {
                return Err(unsupported(format!(
                    "output `{}` must be [N, {targets}] float values, it is {first:?}",
                    info.output_names[0]
                )));
            }
        }
        Task::Classifier { labels } => {
            // tract types a Cast to int64 of a float label as its dimension type, TDim.
            let label_type = first.datum_type.is_integer()
                || first.datum_type == String::datum_type()
                || first.datum_type == TDim::datum_type();
            if width(first) != Some(1) || !label_type {
                return Err(unsupported(format!(
                    "output `{}` must be one integer or string label per row, it is {first:?}",
                    info.output_names[0]
                )));
            }
            if model.outputs.len() > 1 {
                let probabilities = fact(1)?;
                if width(probabilities) != Some(labels.len()) {
                    return Err(unsupported(format!(
                        "output `{}` must be [N, {}] class probabilities, it is {probabilities:?}",
                        info.output_names[1],
                        labels.len()
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{bundled_proto, load_error};
    use crate::{Batch, Labels, Model, Predicted};
    use tract_onnx::pb::{tensor_proto::DataType, NodeProto, TensorProto};

    #[test]
    fn a_label_output_of_one_column_is_one_label_per_row() {
        // The trees' labels reshaped to [N, 1], as some exporters leave them.
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        graph.node[0].output[0] = "flat_label".into();
        graph.initializer.push(TensorProto {
            name: "one_column".into(),
            dims: vec![2],
            data_type: DataType::Int64 as i32,
            int64_data: vec![-1, 1],
            ..Default::default()
        });
        graph.node.push(NodeProto {
            op_type: "Reshape".into(),
            input: vec!["flat_label".into(), "one_column".into()],
            output: vec!["label".into()],
            ..Default::default()
        });
        let model = Model::from_bytes(&prost::Message::encode_to_vec(&proto)).unwrap();
        let answer = model.predict(&Batch::new(vec![5.1, 3.5, 1.4, 0.2], 4));
        let labels = Predicted::Labels(Labels::Int(vec![0]));
        assert_eq!(answer.unwrap().predicted, labels);
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
    fn rejects_an_output_no_node_makes() {
        let mut proto = bundled_proto();
        proto.graph.as_mut().unwrap().output[1].name = "arpbobilities".into();
        let err = load_error(&proto);
        assert!(
            err.contains("graph output \"arpbobilities\" is not made by any node"),
            "{err}"
        );
    }
}
