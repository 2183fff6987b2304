//! Trains tabular classifiers with linfa and exports them as standard ONNX that any
//! ONNX runtime loads (and that the `function` crate serves).
//!
//! - [`data`]: the tables we train on (bundled Iris) and the seeded hold-out split.
//! - [`train`]: random forest (bagged linfa-trees) and logistic regression (linfa-logistic).
//! - [`onnx`]: `ai.onnx.ml` TreeEnsembleClassifier / LinearClassifier export via prost.
//! - [`cli`]: the `converter` command line.
#![forbid(unsafe_code)]

pub mod cli;
pub mod data;
pub mod onnx;
pub mod train;

use data::Table;
use train::Trained;

/// The ONNX model of `trained`, described with the names of `table`.
pub fn export(trained: &Trained, table: &Table) -> tract_onnx::pb::ModelProto {
    match trained {
        Trained::Forest { forest, n_classes } => onnx::classifier_model(
            onnx::forest_node(forest, *n_classes),
            &onnx::ModelInfo {
                feature_names: table.feature_names.clone(),
                class_names: table.class_names.clone(),
                model_type: "random_forest",
                description: format!(
                    "Random forest of {} linfa-trees decision trees, votes as probabilities",
                    forest.models.len()
                ),
            },
        ),
        Trained::Logistic(model) => onnx::classifier_model(
            onnx::linear_node(model),
            &onnx::ModelInfo {
                feature_names: table.feature_names.clone(),
                class_names: model
                    .classes()
                    .iter()
                    .map(|&c| table.class_names[c].clone())
                    .collect(),
                model_type: "logistic_regression",
                description:
                    "Multinomial logistic regression (linfa-logistic), softmax probabilities"
                        .to_string(),
            },
        ),
    }
}
