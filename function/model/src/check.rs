//! Checks around tract's load: before it (every graph output made by a node, since
//! tract panics otherwise), when it fails (an unknown operator, named), and after it
//! (the outputs have the shapes a classifier or regressor must have).

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use super::load::{unsupported, LoadError};
use super::{ModelInfo, Task};

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
pub(super) fn check_output_names(proto: &ModelProto) -> Result<(), LoadError> {
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

/// A classifier's first output must be one label per row and a second, if any, one
/// probability per row and class; a regressor's first output one row of values per row.
pub(super) fn check_outputs(plan: &TypedSimplePlan, info: &ModelInfo) -> Result<(), LoadError> {
    let model = plan.model();
    let fact = |i: usize| {
        model
            .output_fact(i)
            .map_err(|e| LoadError::Tract(format!("{e:#}")))
    };
    let first = fact(0)?;
    let width = |fact: &TypedFact| fact.shape.get(1).and_then(|d| d.to_usize().ok());
    match &info.task {
        Task::Regressor { targets } => {
            if first.rank() != 2 || width(first) != Some(*targets) || !first.datum_type.is_float() {
                return Err(unsupported(format!(
                    "output `{}` must be [N, {targets}] float values, it is {first:?}",
                    info.output_names[0]
                )));
            }
        }
        Task::Classifier { labels } => {
            if first.rank() != 1
                || !(first.datum_type.is_integer() || first.datum_type == String::datum_type())
            {
                return Err(unsupported(format!(
                    "output `{}` must be one integer or string label per row, it is {first:?}",
                    info.output_names[0]
                )));
            }
            if model.outputs.len() > 1 {
                let probabilities = fact(1)?;
                if probabilities.rank() != 2 || width(probabilities) != Some(labels.len()) {
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
