//! The `ai.onnx.ml` operators scikit-learn (skl2onnx) and onnxmltools exports use around
//! their models and tract 0.23 lacks, registered into tract's ONNX loader with
//! onnxruntime's semantics (its CPU kernels in `onnxruntime/core/providers/cpu/ml/` are
//! the reference each file names). The tree ensembles, the opset-5 TreeEnsemble
//! included, are `crate::tree_ensemble`'s; ZipMap is not an operator the runtime runs.
//!
//! - `node`: the node an operator was built from, its errors, its attribute reader.
//! - `tensors`: reading inputs and building outputs, as the operators share it.
//! - `scaler`, `imputer`, `binarizer`: per-value transforms of numeric features.
//! - `array_feature_extractor`, `feature_vectorizer`: selecting and joining columns.
//! - `one_hot_encoder`, `label_encoder`: categories to numbers (and back).
//! - `linear`: LinearClassifier and LinearRegressor.
//! - `svm`: SVMClassifier and SVMRegressor.
//! - `graphs` (tests): small graphs of each operator, loaded and run as a model.

#![forbid(unsafe_code)]

mod array_feature_extractor;
mod binarizer;
mod feature_vectorizer;
mod imputer;
pub(crate) mod label_encoder;
pub(crate) mod linear;
pub(crate) mod node;
mod one_hot_encoder;
mod scaler;
mod svm;
mod tensors;

#[cfg(test)]
mod graphs;
#[cfg(test)]
pub(crate) mod testing;

use tract_onnx::model::OnnxOpRegister;

/// Adds the operators to `register`. tract's own ArrayFeatureExtractor is replaced (its
/// shapes and index checks are not onnxruntime's), and so are its LinearClassifier and
/// LinearRegressor (expansions into generic ops, several times slower, that do not check
/// the coefficients against the input's width).
pub fn register(register: &mut OnnxOpRegister) {
    register.insert("ArrayFeatureExtractor", array_feature_extractor::build);
    register.insert("Binarizer", binarizer::build);
    register.insert("FeatureVectorizer", feature_vectorizer::build);
    register.insert("Imputer", imputer::build);
    register.insert("LabelEncoder", label_encoder::build);
    register.insert("LinearClassifier", linear::classifier::build);
    register.insert("LinearRegressor", linear::regressor::build);
    register.insert("OneHotEncoder", one_hot_encoder::build);
    register.insert("Scaler", scaler::build);
    register.insert("SVMClassifier", svm::classifier::build);
    register.insert("SVMRegressor", svm::regressor::build);
}
