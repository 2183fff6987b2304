//! Explanations of predictions: per row, feature and output, the feature's exact SHAP
//! value, in the model's raw score space (before any `post_transform`), for the two
//! kinds of model whose exact values are cheap:
//! - a tree ensemble: path-dependent TreeSHAP over the trees' node covers
//!   ([`TreeExplainer`]);
//! - a linear model (LinearClassifier, LinearRegressor): `w_i (x_i - mean_i)` per
//!   coefficient row, over the training rows' means as the background
//!   ([`LinearExplainer`]); what `shap.LinearExplainer` gives with the training rows
//!   as its masker.
//!
//! Both need what ONNX does not carry, which a file holds in `metadata_props`: the covers
//! under [`COVERS_KEY`], the means under [`MEANS_KEY`], numbers separated by spaces.
//! [`annotation`] computes either from the training rows, for `converter train` and
//! `converter annotate`.

#![forbid(unsafe_code)]

mod linear;

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto};

use crate::info::{ElementType, ModelInfo};
pub use crate::tree_ensemble::{count_covers, TreeExplainer, COVERS_KEY};
pub use linear::{column_means, LinearExplainer, MEANS_KEY};

/// One row's explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Per output, the raw score of a row about which nothing is known.
    pub expected: Vec<f64>,
    /// Per feature, per output (feature-major): its SHAP value. With `expected`, they
    /// add up to the row's raw score.
    pub values: Vec<f64>,
}

/// What explains a model's predictions.
#[derive(Debug, Clone)]
pub enum Explainer {
    /// A tree ensemble, with its node covers (boxed: its tables make it the large one).
    Trees(Box<TreeExplainer>),
    /// A linear or logistic model, with its training means.
    Linear(LinearExplainer),
}

impl Explainer {
    /// Number of outputs each feature gets a value for.
    pub fn n_outputs(&self) -> usize {
        match self {
            Explainer::Trees(trees) => trees.n_outputs(),
            Explainer::Linear(linear) => linear.n_outputs(),
        }
    }

    /// The explanation of one row of the model's features.
    pub fn explain(&self, row: &[f32]) -> Explanation {
        match self {
            Explainer::Trees(trees) => trees.explain(row),
            Explainer::Linear(linear) => linear.explain(row),
        }
    }

    /// The explanations of every row of `rows` (row-major, `width` values each).
    pub fn explain_rows(&self, rows: &[f32], width: usize) -> Vec<Explanation> {
        match self {
            Explainer::Trees(trees) => trees.explain_rows(rows, width),
            Explainer::Linear(linear) => rows
                .chunks_exact(width)
                .map(|row| linear.explain(row))
                .collect(),
        }
    }

    /// How many predictions of a row one row's explanation costs, for deciding, as for
    /// predictions, when a batch leaves the request thread. TreeSHAP visits every node
    /// of every tree, with work growing with the square of the depth, where a prediction
    /// walks one path: ~64 of them. A linear explanation costs about its prediction.
    pub fn cost_per_row(&self) -> usize {
        match self {
            Explainer::Trees(_) => 64,
            Explainer::Linear(_) => 1,
        }
    }
}

/// Which kind of model a node is, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Explained {
    /// TreeEnsembleClassifier, TreeEnsembleRegressor or the opset-5 TreeEnsemble.
    Trees,
    /// LinearClassifier or LinearRegressor.
    Linear,
}

impl Explained {
    fn of(node: &NodeProto) -> Option<Explained> {
        match node.op_type.as_str() {
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble" => {
                Some(Explained::Trees)
            }
            "LinearClassifier" | "LinearRegressor" => Some(Explained::Linear),
            _ => None,
        }
    }
}

/// The node explanations cover in `graph`, and its kind: its one tree ensemble or
/// linear model, reading the graph's one input itself (whatever follows it: a `Cast` of
/// the labels, a `ZipMap`, a `CategoryMapper`, `Identity` nodes). A graph with
/// preprocessing before the model is refused: its explanations would be in terms of
/// features that requests do not carry.
pub fn explained_node(graph: &GraphProto) -> Result<(&NodeProto, Explained), String> {
    let models: Vec<(&NodeProto, Explained)> = (graph.node.iter())
        .filter_map(|node| Explained::of(node).map(|kind| (node, kind)))
        .collect();
    let [(node, kind)] = models[..] else {
        return Err(format!(
            "explanations are for a model with one tree ensemble (a forest or a booster) \
             or one linear model, as the converter, skl2onnx and onnxmltools export them; \
             this graph has {} such nodes",
            models.len()
        ));
    };
    let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&str> = (graph.input.iter())
        .map(|i| i.name.as_str())
        .filter(|name| !initialized.contains(name))
        .collect();
    match &inputs[..] {
        [input] if node.input.len() == 1 && node.input[0] == *input => Ok((node, kind)),
        _ => Err(format!(
            "the {} reads `{}`, which other nodes compute from the graph's inputs \
             (preprocessing); explanations are in terms of the model's own features, \
             which requests do not carry",
            node.op_type,
            node.input.first().map_or("", String::as_str)
        )),
    }
}

/// The explainer of `proto`'s model (see [`explained_node`]) from what its file holds,
/// or why there is none (said to clients as is).
pub fn explainer(proto: &ModelProto, info: &ModelInfo) -> Result<Explainer, String> {
    let graph = proto.graph.as_ref().ok_or("the model has no graph")?;
    let (node, kind) = explained_node(graph)?;
    let input = (info.positional())
        .filter(|input| input.element == ElementType::F32)
        .ok_or("explanations are for a model of one float input")?;
    let (key, what) = match kind {
        Explained::Trees => (
            COVERS_KEY,
            "node covers (the training rows that reached each node)",
        ),
        Explained::Linear => (MEANS_KEY, "training means of its features"),
    };
    let annotation = (proto.metadata_props.iter())
        .find(|p| p.key == key)
        .ok_or_else(|| {
            format!(
                "the model file holds no {what}, which explanations need: add them with \
                 `converter annotate MODEL.onnx --data TRAIN.csv -o OUT.onnx`, or retrain \
                 with `converter train`"
            )
        })?;
    let numbers = parse_numbers(key, &annotation.value)?;
    match kind {
        Explained::Trees => TreeExplainer::new(node, &numbers, input.width)
            .map(|trees| Explainer::Trees(Box::new(trees)))
            .map_err(|e| format!("the model's node covers cannot explain it: {e}")),
        Explained::Linear => LinearExplainer::new(node, &numbers, input.width)
            .map(Explainer::Linear)
            .map_err(|e| format!("the model's feature means cannot explain it: {e}")),
    }
}

/// What explanations of `node`'s predictions need, computed from the rows it was
/// trained on (`rows` row-major, `width` values each): the `metadata_props` key and its
/// value (covers for a tree ensemble, means for a linear model).
pub fn annotation(
    node: &NodeProto,
    rows: &[f32],
    width: usize,
) -> Result<(&'static str, String), String> {
    match Explained::of(node) {
        Some(Explained::Trees) => Ok((
            COVERS_KEY,
            format_numbers(&count_covers(node, rows, width)?),
        )),
        Some(Explained::Linear) => Ok((MEANS_KEY, format_numbers(&column_means(rows, width)?))),
        None => Err(format!("a {} node has no explanations", node.op_type)),
    }
}

/// `numbers` as an annotation's value: shortest round-tripping decimals, space
/// separated.
pub fn format_numbers(numbers: &[f64]) -> String {
    let texts: Vec<String> = numbers.iter().map(f64::to_string).collect();
    texts.join(" ")
}

/// The value of the annotation `key` as numbers.
pub fn parse_numbers(key: &str, text: &str) -> Result<Vec<f64>, String> {
    (text.split_ascii_whitespace().enumerate())
        .map(|(i, word)| {
            word.parse::<f64>()
                .map_err(|_| format!("{key}: entry {i} (`{word}`) is not a number"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_through_their_text() {
        let covers = [150.0, 50.0, 100.0, 0.0, 2.5, 5.843333333333335];
        assert_eq!(
            parse_numbers(COVERS_KEY, &format_numbers(&covers)).unwrap(),
            covers
        );
        let err = parse_numbers(MEANS_KEY, "1 2 x").unwrap_err();
        assert!(err.contains("feature_means: entry 2 (`x`)"), "{err}");
    }
}
