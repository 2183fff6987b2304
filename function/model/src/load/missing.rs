//! Whether a missing value (NaN) in a float input gets a defined answer, as ONNX defines
//! one. Every tree ensemble gives one: a NaN takes the branch its node's
//! `nodes_missing_value_tracks_true` says, and otherwise the comparison's result (false,
//! but for `BRANCH_NEQ`), which is what onnxruntime and the XGBoost and LightGBM runtimes
//! do. An `Imputer` told to replace NaN removes it. Every other operator passes NaN on
//! (a linear model's scores, a scaler's output, hence the label chosen from them), so
//! an input is taken with NaN only when no graph output depends on it but through those.

use std::collections::HashSet;

use tract_onnx::pb::{GraphProto, NodeProto};

/// Operators whose outputs are defined whatever NaN their inputs hold.
const DEFINE_NAN: [&str; 3] = [
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "TreeEnsemble",
];

/// Whether NaN in the graph input `input` leaves every graph output defined.
pub(super) fn defined_for(graph: &GraphProto, input: &str) -> bool {
    let mut reached: HashSet<&str> = HashSet::from([input]);
    // A valid file lists its nodes in topological order, so one pass would do; passes
    // until nothing changes also cover a file that does not.
    loop {
        let before = reached.len();
        for node in &graph.node {
            let reads_nan = node.input.iter().any(|i| reached.contains(i.as_str()));
            if reads_nan && !defines_nan(node) {
                let outputs = node.output.iter().filter(|o| !o.is_empty());
                reached.extend(outputs.map(String::as_str));
            }
        }
        if reached.len() == before {
            break;
        }
    }
    !(graph.output.iter()).any(|output| reached.contains(output.name.as_str()))
}

/// Whether `node`'s outputs are defined when its inputs hold NaN: a tree ensemble, or an
/// `Imputer` whose `replaced_value_float` is NaN (skl2onnx's `SimpleImputer` export; the
/// default, 0, leaves NaN in place).
fn defines_nan(node: &NodeProto) -> bool {
    DEFINE_NAN.contains(&node.op_type.as_str())
        || (node.op_type == "Imputer"
            && (node.attribute.iter()).any(|a| a.name == "replaced_value_float" && a.f.is_nan()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, ValueInfoProto};

    fn node(op_type: &str, input: &str, output: &str) -> NodeProto {
        NodeProto {
            op_type: op_type.into(),
            input: vec![input.into()],
            output: vec![output.into()],
            ..Default::default()
        }
    }

    /// A graph of `nodes` whose output is `out`.
    fn graph(nodes: Vec<NodeProto>) -> GraphProto {
        GraphProto {
            node: nodes,
            output: vec![ValueInfoProto {
                name: "out".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_linear_model_answers_nan_with_nan() {
        let linear = graph(vec![node("LinearClassifier", "x", "out")]);
        assert!(!defined_for(&linear, "x"));
    }

    #[test]
    fn a_tree_ensemble_answers_nan_and_what_follows_it_too() {
        let trees = graph(vec![
            node("Scaler", "x", "scaled"),
            node("TreeEnsembleRegressor", "scaled", "scores"),
            node("Mul", "scores", "out"),
        ]);
        assert!(defined_for(&trees, "x"));
    }

    #[test]
    fn an_imputer_replacing_nan_defines_it_and_one_replacing_zero_does_not() {
        let imputer = |replaced: f32| NodeProto {
            attribute: vec![AttributeProto {
                name: "replaced_value_float".into(),
                f: replaced,
                ..Default::default()
            }],
            ..node("Imputer", "x", "imputed")
        };
        let linear = node("LinearRegressor", "imputed", "out");
        assert!(defined_for(
            &graph(vec![imputer(f32::NAN), linear.clone()]),
            "x"
        ));
        assert!(!defined_for(&graph(vec![imputer(0.0), linear]), "x"));
    }

    #[test]
    fn nan_reaching_an_output_by_any_path_is_refused() {
        // The input feeds the trees and, through a Concat, the output as well.
        let mut concat = node("Concat", "x", "out");
        concat.input.push("scores".into());
        let both = graph(vec![node("TreeEnsembleRegressor", "x", "scores"), concat]);
        assert!(!defined_for(&both, "x"));
    }
}
