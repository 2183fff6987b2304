//! Trains tabular classifiers and regressors on a user's CSV file (or the bundled Iris set),
//! evaluates them honestly, and exports standard ONNX that any ONNX runtime loads (and
//! that the `model` crate, the function's runtime, serves).
//!
//! - [`data`]: tables (bundled Iris, CSV files), the seeded hold-out split and folds.
//! - [`train`]: random forest and decision tree (our deterministic CART), logistic
//!   regression (linfa-logistic).
//! - [`evaluate`]: hold-out and cross-validated accuracy, per-class precision/recall/F1,
//!   confusion matrix, as a table or JSON.
//! - [`evaluate_values`]: R2, MAE and RMSE of a regressor.
//! - [`onnx`]: `ai.onnx.ml` TreeEnsembleClassifier / LinearClassifier export via prost.
//! - [`inspect`]: what an ONNX file holds (ours or another exporter's).
//! - [`progress`]: progress bars that show only on a terminal.
//! - [`cli`]: the `converter` command line (`train`, `inspect`, `verify`).
#![forbid(unsafe_code)]

pub mod cli;
pub mod data;
pub mod evaluate;
pub mod evaluate_values;
pub mod inspect;
pub mod onnx;
pub mod progress;
pub mod train;

use data::{ClassLabels, Table};
use train::{Encoding, Trained};

/// The ONNX model of `trained`, described with the names and labels of `table`. When
/// the table needs it ([`Table::needs_column_inputs`]), the graph takes one input per
/// column and applies `encoding` (which `trained` was trained behind) itself. A graph
/// that is one tree ensemble carries its node covers over `trained_on`, the rows it was
/// trained on.
pub fn export(
    trained: &Trained,
    encoding: &Encoding,
    table: &Table,
    trained_on: &Table,
) -> Result<tract_onnx::pb::ModelProto, String> {
    let string_labels = matches!(table.labels, ClassLabels::Str(_));
    let regression = table.is_regression();
    let info = |class_names: Vec<String>, model_type, description| onnx::ModelInfo {
        regression,
        string_labels,
        feature_names: table.feature_names.clone(),
        class_names,
        model_type,
        description,
    };
    let prelude = if table.needs_column_inputs() {
        Some(onnx::prelude(encoding, table)?)
    } else {
        None
    };
    let mut model = if regression {
        match trained {
            Trained::Forest { forest, .. } => onnx::tabular_model(
                vec![onnx::regressor_node(&forest.trees)],
                &info(
                    vec![],
                    "random_forest_regressor",
                    format!(
                        "Random forest of {} CART regression trees, the mean of their leaves",
                        forest.trees.len()
                    ),
                ),
                prelude,
            ),
            Trained::Tree { tree, .. } => onnx::tabular_model(
                vec![onnx::regressor_node(std::slice::from_ref(tree))],
                &info(
                    vec![],
                    "decision_tree_regressor",
                    "Regression tree (CART), the mean of the leaf's training rows".into(),
                ),
                prelude,
            ),
            Trained::Linear(model) => onnx::tabular_model(
                vec![onnx::linear_regressor_node(model)],
                &info(
                    vec![],
                    "linear_regression",
                    "Ridge regression on standardised features, the standardisation folded \
                     into the coefficients"
                        .into(),
                ),
                prelude,
            ),
            Trained::Logistic(_) => return Err("a logistic regression predicts classes".into()),
        }
    } else {
        match trained {
            Trained::Forest { forest, .. } => onnx::tabular_model(
                vec![onnx::forest_node(&forest.trees, &table.labels)],
                &info(
                    table.class_names.clone(),
                    "random_forest",
                    format!(
                        "Random forest of {} CART decision trees, votes as probabilities",
                        forest.trees.len()
                    ),
                ),
                prelude,
            ),
            Trained::Tree { tree, .. } => onnx::tabular_model(
                vec![onnx::forest_node(std::slice::from_ref(tree), &table.labels)],
                &info(
                    table.class_names.clone(),
                    "decision_tree",
                    "Decision tree (CART), the leaf's class with probability 1".into(),
                ),
                prelude,
            ),
            Trained::Logistic(model) => onnx::tabular_model(
                onnx::linear_nodes(model, &table.labels),
                &info(
                    model
                        .classes()
                        .iter()
                        .map(|&c| table.class_names[c].clone())
                        .collect(),
                    "logistic_regression",
                    "Multinomial logistic regression (linfa-logistic) on standardised features, \
                 the standardisation folded into the coefficients; softmax probabilities"
                        .into(),
                ),
                prelude,
            ),
            Trained::Linear(_) => return Err("a linear regression predicts values".into()),
        }
    };
    add_explanation_data(&mut model, trained_on)?;
    Ok(model)
}

/// Writes into `model`, when its graph is one tree ensemble or linear model reading the
/// table's rows, what explanations of its predictions need from those rows: how many
/// reach each node (covers), or each feature's mean (see `model::explain`).
fn add_explanation_data(
    model: &mut tract_onnx::pb::ModelProto,
    table: &Table,
) -> Result<(), String> {
    let Some(graph) = model.graph.as_ref() else {
        return Ok(());
    };
    let Ok((node, _)) = model::explain::explained_node(graph) else {
        return Ok(());
    };
    let rows = table.records.as_standard_layout();
    let values = rows.as_slice().expect("a standard layout is contiguous");
    let (key, value) = model::explain::annotation(node, values, table.records.ncols())?;
    model
        .metadata_props
        .push(tract_onnx::pb::StringStringEntryProto {
            key: key.to_string(),
            value,
        });
    Ok(())
}
