//! The reference evaluator, written from the ONNX spec and onnxruntime's semantics: walks
//! each tree of a listed ensemble for one row, node by node, as plainly as possible.

use std::collections::HashMap;

use crate::ensembles::{Ensemble, Listed};

/// Reference: per row, per output, (sum or min/max of weights, whether any leaf had it).
pub fn reference_scores(ensemble: &Ensemble, row: &[f32], aggregate: &str) -> Vec<(f32, bool)> {
    let at: HashMap<(i64, i64), &Listed> =
        ensemble.nodes.iter().map(|n| ((n.tree, n.id), n)).collect();
    let mut roots: Vec<&Listed> = Vec::new();
    for node in &ensemble.nodes {
        if roots.iter().all(|r| r.tree != node.tree) {
            roots.push(node);
        }
    }
    let mut scores = vec![(0.0f32, false); ensemble.n_outputs];
    for root in roots {
        let mut node = root;
        while node.mode != "LEAF" {
            let x = row[node.feature as usize];
            let t = node.threshold;
            let pass = match node.mode {
                "BRANCH_LEQ" => x <= t,
                "BRANCH_LT" => x < t,
                "BRANCH_GTE" => x >= t,
                "BRANCH_GT" => x > t,
                "BRANCH_EQ" => x == t,
                _ => x != t,
            } || (node.nan_true && x.is_nan());
            node = at[&(node.tree, if pass { node.true_id } else { node.false_id })];
        }
        for &(o, w) in &node.weights {
            let (s, has) = &mut scores[o as usize];
            *s = match aggregate {
                "MIN" if *has => s.min(w),
                "MAX" if *has => s.max(w),
                "MIN" | "MAX" => w,
                _ => *s + w,
            };
            *has = true;
        }
    }
    scores
}
