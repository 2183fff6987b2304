//! What the ONNX file says about the model, read once at load time: its input, outputs,
//! task (classifier with labels, or regressor), metadata and producer.

use crate::prediction::Labels;

/// What kind of answer the model gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// A class label per row (and usually class probabilities).
    Classifier {
        /// The class labels, in the order of the probability columns.
        labels: Labels,
    },
    /// `targets` values per row.
    Regressor {
        /// Number of values per row.
        targets: usize,
    },
}

/// What the ONNX file says about the model, read once at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Number of features per row (the input's second dimension).
    pub n_features: usize,
    /// Name of the graph input.
    pub input_name: String,
    /// Names of the graph outputs, in order (label first).
    pub output_names: Vec<String>,
    /// Classifier (with its labels) or regressor (with its target count).
    pub task: Task,
    /// Feature names from `metadata_props`, if the file has them.
    pub feature_names: Option<Vec<String>>,
    /// Class names from `metadata_props`, if the file has them.
    pub class_names: Option<Vec<String>>,
    /// The operator that does the work (`TreeEnsembleClassifier`, `LinearRegressor`, ...).
    pub operator: String,
    /// `producer_name` and `producer_version` of the file.
    pub producer: String,
    /// Whether the model takes missing values (NaN): a tree ensemble with a
    /// `nodes_missing_value_tracks_true` entry set, i.e. trained to route missing values
    /// (scikit-learn's HistGradientBoosting, XGBoost, LightGBM exports). Other models
    /// would answer NaN input with an arbitrary branch or NaN scores, so they refuse it.
    pub handles_missing: bool,
}

impl ModelInfo {
    /// A two-feature classifier with `labels` and the graph outputs `outputs`, as the
    /// protocols' unit tests need one (no file behind it).
    pub fn for_tests(labels: Labels, outputs: &[&str]) -> ModelInfo {
        ModelInfo {
            n_features: 2,
            input_name: "input".into(),
            output_names: outputs.iter().map(|s| s.to_string()).collect(),
            task: Task::Classifier { labels },
            feature_names: None,
            class_names: None,
            operator: "LinearClassifier".into(),
            producer: String::new(),
            handles_missing: false,
        }
    }
}
