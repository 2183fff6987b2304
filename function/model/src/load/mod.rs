//! The load sequence: decode the ONNX protobuf, rewrite what tract cannot load but has
//! a tensor meaning, describe the model, validate the graph, then pick a runner: the
//! tree-ensemble op directly for a graph that is that one node (and `Identity` nodes
//! renaming its outputs), tract's optimised plan for any other.
//!
//! - `rewrite`: ZipMaps removed, declared output shapes forgotten.
//! - `describe`: task, labels and metadata, read from the protobuf.
//! - `inputs`: each input's name, element type and width, and an example row.
//! - `missing`: whether a missing value in an input gets a defined answer.
//! - `validate`: the checks around tract's load (before, on failure, after).
//! - `single`: whether the graph is one tree-ensemble node the op can run alone.

mod describe;
mod inputs;
mod missing;
mod rewrite;
mod single;
mod validate;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::error::LoadError;
use crate::explain::Explainer;
use crate::info::ModelInfo;
use crate::runner::{onnx_loader, Plan, Runner};
use crate::tree_ensemble::{self, EnsembleSize, TreeEnsemble};

/// A model ready to predict.
pub(crate) struct Loaded {
    /// What predicts.
    pub runner: Runner,
    /// What the file says about the model.
    pub info: ModelInfo,
    /// Trees and nodes, for a tree ensemble.
    pub ensemble_size: Option<EnsembleSize>,
    /// What explains its predictions, or why nothing does.
    pub explainer: Result<Explainer, String>,
}

/// Decodes, checks and prepares the model in `bytes`; `through_tract` builds tract's
/// plan even for a graph the tree-ensemble op could run alone (to compare the two).
pub(crate) fn load(bytes: &[u8], through_tract: bool) -> Result<Loaded, LoadError> {
    // Decoded here rather than by tract's loader, which copies the bytes first; the
    // loader (a registry of every ONNX operator) is built only for a graph tract runs.
    let mut proto = <ModelProto as prost::Message>::decode(bytes)
        .map_err(|e| LoadError::Decode(e.to_string()))?;
    rewrite::rewrite(&mut proto);
    let info = describe::describe(&proto)?;
    validate::output_names(&proto)?;
    let single = single::tree_ensemble(&proto, &info).filter(|_| !through_tract);
    let onnx = std::cell::OnceCell::new();
    let onnx = || onnx.get_or_init(onnx_loader);
    let runner = prepare(single, onnx, &proto, &info)?;
    validate::runner(&runner, &info)?;
    let ensemble_size = match &runner {
        Runner::TreeEnsemble(op) => Some(op.size()),
        // The op that read the trees is inside tract's plan: read them again (the plan
        // is the slower start-up in any case).
        Runner::Plan(_) => proto
            .graph
            .as_ref()
            .and_then(|graph| tree_ensemble::ensemble_size(&graph.node)),
    };
    let explainer = crate::explain::explainer(&proto, &info);
    Ok(Loaded {
        runner,
        info,
        ensemble_size,
        explainer,
    })
}

/// Builds the runner: the op of the `single` tree-ensemble node, or tract's plan of the
/// whole graph, with `onnx` the loader built on first use.
fn prepare<'o>(
    single: Option<&tract_onnx::pb::NodeProto>,
    onnx: impl Fn() -> &'o tract_onnx::Onnx,
    proto: &ModelProto,
    info: &ModelInfo,
) -> Result<Runner, LoadError> {
    // tract indexes by name and asserts in places a malformed file reaches (found by
    // fuzz/load_model): a panic here must be a load error naming the file's problem,
    // not a crash of the server or the converter. Unwind-safe in effect: nothing tract
    // touched is used after a panic.
    let prepare = std::panic::AssertUnwindSafe(|| match single {
        Some(node) => TreeEnsemble::from_node(node).map(Runner::TreeEnsemble),
        None => Plan::optimise(onnx(), proto, &info.inputs).map(Runner::Plan),
    });
    let prepared = std::panic::catch_unwind(prepare).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        LoadError::Tract(format!("the graph is malformed ({message})"))
    })?;
    prepared.map_err(|e: TractError| {
        validate::unknown_operator(onnx(), proto)
            .unwrap_or_else(|| LoadError::Tract(format!("{e:#}")))
    })
}

/// What the tests of the load steps start from and check with.
#[cfg(test)]
mod fixtures {
    use tract_onnx::pb::{tensor_proto::DataType, type_proto, ModelProto, ValueInfoProto};

    use crate::{Model, BUNDLED_MODEL};

    /// The bundled model's protobuf, to alter.
    pub fn bundled_proto() -> ModelProto {
        prost::Message::decode(BUNDLED_MODEL).unwrap()
    }

    /// Why `proto` does not load.
    pub fn load_error(proto: &ModelProto) -> String {
        let bytes = prost::Message::encode_to_vec(proto);
        Model::from_bytes(&bytes).unwrap_err().to_string()
    }

    /// The tensor type `value` declares.
    pub fn tensor_type(value: &mut ValueInfoProto) -> &mut type_proto::Tensor {
        let Some(type_proto::Value::TensorType(tensor)) =
            value.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            unreachable!("the bundled model declares tensors")
        };
        tensor
    }

    /// Declares the tensor `value` with element type `elem_type`.
    pub fn declare(value: &mut ValueInfoProto, elem_type: DataType) {
        tensor_type(value).elem_type = elem_type as i32;
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::bundled_proto;
    use crate::{EnsembleSize, LoadError, Model, BUNDLED_MODEL};

    #[test]
    fn rejects_bytes_that_are_not_onnx() {
        let err = Model::from_bytes(b"this is not a protobuf").unwrap_err();
        assert!(matches!(err, LoadError::Decode(_)), "{err}");
    }

    #[test]
    fn rejects_an_empty_file() {
        let err = Model::from_bytes(b"").unwrap_err();
        assert!(matches!(err, LoadError::Decode(_)), "{err}");
    }

    #[test]
    fn rejects_a_truncated_file() {
        let err = Model::from_bytes(&BUNDLED_MODEL[..BUNDLED_MODEL.len() / 2]).unwrap_err();
        assert!(matches!(err, LoadError::Decode(_)), "{err}");
    }

    #[test]
    fn an_unknown_operator_no_output_needs_is_dropped_and_the_model_loads() {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        let input = graph.input[0].name.clone();
        graph.node.push(tract_onnx::pb::NodeProto {
            op_type: "FrobnicateFeatures".into(),
            input: vec![input],
            output: vec!["unused".into()],
            ..Default::default()
        });
        let bytes = prost::Message::encode_to_vec(&proto);
        assert!(Model::from_bytes(&bytes).is_ok());
    }

    #[test]
    fn both_runners_report_the_same_ensemble_size() {
        let direct = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let planned = Model::from_bytes_through_tract(BUNDLED_MODEL).unwrap();
        let graph = bundled_proto().graph.unwrap();
        let tree_ids = graph.node[0]
            .attribute
            .iter()
            .find(|a| a.name == "nodes_treeids");
        let listed = tree_ids.unwrap().ints.len();
        let size = EnsembleSize {
            trees: 100,
            nodes: listed,
        };
        assert_eq!(direct.ensemble_size(), Some(size));
        assert_eq!(planned.ensemble_size(), Some(size));
    }
}
