//! Explanations as JSON, the same in every protocol that gives them (KServe V1
//! `:explain`, `/predict?explain=true`): per row, `{"expected_value": [per output],
//! "shap_values": [[per output] per feature], "feature_names": [...]}`. Outputs are the
//! model's classes in label order (one margin for a binary booster), or its targets;
//! values are in the raw score space, before any `post_transform`, so `expected_value`
//! plus a row's `shap_values` summed over features is its raw score. Numbers are `f64`:
//! the sums are computed in double precision, as shap's are.

use model::{Explanation, ModelInfo};
use serde::Serialize;

/// One row's explanation, as it is sent.
#[derive(Debug, Serialize)]
pub struct ExplanationJson<'a> {
    expected_value: &'a [f64],
    shap_values: Vec<&'a [f64]>,
    feature_names: &'a [String],
}

/// KServe V1's `:explain` answer.
#[derive(Debug, Serialize)]
pub struct Explained<'a> {
    /// One per instance.
    pub explanations: Vec<ExplanationJson<'a>>,
}

/// The names explanations give the features: the model's `feature_names`, else `f0`,
/// `f1`, ... in input order.
pub fn feature_names(info: &ModelInfo, n_features: usize) -> Vec<String> {
    match &info.feature_names {
        Some(names) if names.len() == n_features => names.clone(),
        _ => (0..n_features).map(|i| format!("f{i}")).collect(),
    }
}

/// `explanations` as sent, with `names` their features' names.
pub fn to_json<'a>(
    explanations: &'a [Explanation],
    names: &'a [String],
) -> Vec<ExplanationJson<'a>> {
    explanations
        .iter()
        .map(|explanation| {
            let outputs = explanation.expected.len().max(1);
            ExplanationJson {
                expected_value: &explanation.expected,
                shap_values: explanation.values.chunks(outputs).collect(),
                feature_names: names,
            }
        })
        .collect()
}
