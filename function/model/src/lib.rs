//! The model runtime: loads an ONNX classifier or regressor once, remembers what the
//! file says about itself, and predicts batches. A graph that is one tree-ensemble node
//! (its outputs possibly renamed by `Identity` nodes) runs on our tree op directly; any
//! other graph runs through tract's optimised plan
//! (with the same op for its tree ensembles). Protocols hand it a [`Batch`]; it never
//! sees JSON.
//!
//! - `batch`: [`Batch`], the rows a prediction takes: a [`Column`] of [`Values`] per
//!   graph input.
//! - `prediction`: [`Prediction`], [`Predicted`] and [`Labels`], what it answers.
//! - `info`: [`ModelInfo`], [`InputInfo`], [`Field`] and [`Task`], what the file says
//!   about the model: its inputs, the named columns of a row, its outputs.
//! - `error`: [`LoadError`] and [`PredictError`].
//! - `load`: the load sequence: decode, rewrite what tract cannot load (ZipMap),
//!   describe, validate, pick a runner.
//! - `runner`: what predicts: the tree-ensemble op called directly, or tract's plan.
//! - [`explain`]: [`Explainer`] and [`Explanation`], exact SHAP values of a tree
//!   ensemble's or a linear model's predictions.
//! - [`tree_ensemble`]: our TreeEnsembleClassifier / TreeEnsembleRegressor (and the
//!   opset-5 TreeEnsemble): the one reader of their attributes, the tree kernel, and the
//!   op tract runs.
//! - `ml`: the other `ai.onnx.ml` operators scikit-learn and onnxmltools exports use and
//!   tract lacks (Scaler, Imputer, encoders, SVMs...), registered into tract's loader.
//! - `tract_op`: the `Kernel` each of our operators is, and the one tract op wrapping it.
//! - `tensor_proto`: the values of an ONNX tensor attribute, for both.
// One module uses `unsafe`: the tree walk (`tree_ensemble::kernel`), which reads nodes and
// row values unchecked after checking their bounds once per model.
#![deny(unsafe_code)]

mod batch;
mod error;
pub mod explain;
mod info;
mod load;
mod ml;
mod prediction;
mod runner;
mod tensor_proto;
mod tract_op;
pub mod tree_ensemble;

pub use batch::{Batch, Column, Values};
pub use error::{LoadError, PredictError};
pub use explain::{Explainer, Explanation};
pub use info::{ElementType, Field, InputInfo, ModelInfo, Task};
pub use prediction::{Labels, Predicted, Prediction};
pub use runner::onnx_loader;
pub use tree_ensemble::EnsembleSize;

use runner::Runner;

/// The Iris forest the function serves when no model path is given: produced by
/// `converter train` with its defaults (a test checks the converter reproduces it).
pub const BUNDLED_MODEL: &[u8] = include_bytes!("../../../models/iris-forest.onnx");

/// Name under which the bundled model is served.
pub const BUNDLED_MODEL_NAME: &str = "iris-forest";

/// A loaded, optimised model. Cheap to share: clone the [`Arc`](std::sync::Arc).
#[derive(Debug)]
pub struct Model {
    runner: Runner,
    info: ModelInfo,
    /// Trees and nodes, for a tree ensemble.
    ensemble_size: Option<EnsembleSize>,
    /// What explains predictions, or why nothing does.
    explainer: Result<Explainer, String>,
}

impl Model {
    /// Loads a model from the bytes of an ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, LoadError> {
        Model::load(bytes, false)
    }

    /// Loads a model from the bytes of an ONNX file and runs it through tract's plan
    /// even when the tree-ensemble op could run it alone: for tests and benchmarks that
    /// compare the two.
    pub fn from_bytes_through_tract(bytes: &[u8]) -> Result<Model, LoadError> {
        Model::load(bytes, true)
    }

    fn load(bytes: &[u8], through_tract: bool) -> Result<Model, LoadError> {
        let load::Loaded {
            runner,
            info,
            ensemble_size,
            explainer,
        } = load::load(bytes, through_tract)?;
        Ok(Model {
            runner,
            info,
            ensemble_size,
            explainer,
        })
    }

    /// Loads the ONNX file at `path`.
    pub fn from_path(path: &std::path::Path) -> Result<Model, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Model::from_bytes(&bytes)
    }

    /// Whether predictions go through tract's plan (false: the tree-ensemble op is
    /// called directly).
    pub fn runs_through_tract(&self) -> bool {
        self.runner.is_plan()
    }

    /// The model's description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Trees and nodes of the model's tree ensemble; `None` for a linear model.
    pub fn ensemble_size(&self) -> Option<EnsembleSize> {
        self.ensemble_size
    }

    /// Values each row must have, over every input ([`ModelInfo::n_features`]).
    pub fn n_features(&self) -> usize {
        self.info.n_features()
    }

    /// Work per row in tree-rows: the number of trees of a tree ensemble, 1 for a linear
    /// model (a row of a linear model costs about what one small tree does). What a
    /// caller weighs a batch by, e.g. to decide whether it is worth moving off the
    /// thread that received it.
    pub fn work_per_row(&self) -> usize {
        self.ensemble_size.map_or(1, |size| size.trees.max(1))
    }

    /// Predicts every row of `batch`, which must have one column per input, of the
    /// input's element type and width (an error otherwise: protocols build batches that
    /// fit, so a misfit is the caller's bug, not the client's).
    pub fn predict(&self, batch: &Batch) -> Result<Prediction, PredictError> {
        if let Some(misfit) = self.info.misfit(batch) {
            return Err(PredictError::from(tract_onnx::prelude::TractError::msg(
                misfit,
            )));
        }
        self.runner.predict(batch, &self.info)
    }

    /// The explainer of the model's predictions, or why there is none (a message for the
    /// client: no covers in the file, and how to add them; a graph with more than one
    /// tree ensemble).
    pub fn explainer(&self) -> Result<&Explainer, &str> {
        self.explainer.as_ref().map_err(String::as_str)
    }

    /// The SHAP values of every row of `batch` (see [`Explainer`]), or why the model
    /// cannot be explained.
    pub fn explain(&self, batch: &Batch) -> Result<Vec<Explanation>, String> {
        let explainer = self.explainer().map_err(str::to_string)?;
        if let Some(misfit) = self.info.misfit(batch) {
            return Err(misfit);
        }
        let values = batch
            .single_f32()
            .ok_or("explanations take rows of one float input")?;
        let width = self.info.inputs[0].width;
        Ok(explainer.explain_rows(values, width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::tests::iris_like_rows;
    use tract_onnx::pb::ModelProto;

    /// The bundled forest carries its covers, so it explains its own probabilities (its
    /// votes, summed with no post-transform): per class, the expected value and the
    /// SHAP values add up to the probability it predicts.
    #[test]
    fn the_bundled_forest_explains_its_probabilities_additively() {
        let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let rows = iris_like_rows(30);
        let batch = Batch::new(rows, 4);
        let explanations = model.explain(&batch).unwrap();
        let probabilities = model.predict(&batch).unwrap().probabilities.unwrap();
        let classes = model.explainer().unwrap().n_outputs();
        assert_eq!(classes, 3);
        let mut varied = false;
        for (r, explanation) in explanations.iter().enumerate() {
            for k in 0..classes {
                let sum: f64 = (0..4).map(|f| explanation.values[f * classes + k]).sum();
                let total = explanation.expected[k] + sum;
                let p = f64::from(probabilities[r * classes + k]);
                assert!(
                    (total - p).abs() < 1e-6,
                    "row {r} class {k}: {total} vs {p}"
                );
                varied |= explanation.values.iter().any(|v| v.abs() > 0.01);
            }
        }
        assert!(varied, "some feature moves some row's probability");
    }

    #[test]
    fn a_model_without_covers_says_how_to_add_them() {
        let mut proto = <ModelProto as prost::Message>::decode(BUNDLED_MODEL).unwrap();
        proto
            .metadata_props
            .retain(|p| p.key != explain::COVERS_KEY);
        let bytes = prost::Message::encode_to_vec(&proto);
        let model = Model::from_bytes(&bytes).unwrap();
        let err = model
            .explain(&Batch::new(iris_like_rows(1), 4))
            .unwrap_err();
        assert!(err.contains("converter annotate"), "{err}");
        assert!(model.predict(&Batch::new(iris_like_rows(1), 4)).is_ok());
    }
}
