//! Shared by the fuzz targets: the bundled model, a model description of several typed
//! inputs, and the checks every decoded batch must pass (within the row limit, fitting
//! the model's inputs, and the bundled model predicts it without failing).

use std::sync::OnceLock;

use function::error::ApiError;
use model::{Batch, Model, ModelInfo, BUNDLED_MODEL};

/// Small, so that a large decoded batch (a 413) is cheap to reach.
pub const MAX_ROWS: usize = 64;

/// The bundled Iris forest, loaded once per process.
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::from_bytes(BUNDLED_MODEL).expect("the bundled model loads"))
}

/// The model's description as served (a tree ensemble: it takes missing values), and
/// one that refuses them, so both policies are exercised.
pub fn infos() -> [ModelInfo; 2] {
    let info = model().info().clone();
    let mut refusing = info.clone();
    refusing.inputs[0].takes_missing = false;
    [info, refusing]
}

/// A model of several inputs, as skl2onnx exports a ColumnTransformer: a string column,
/// a float one taking missing values, an int64 one, and a float input of two values
/// ([`ModelInfo::columns_for_tests`]). No file behind it: its batches are checked to fit
/// it ([`check_fits`]).
pub fn columns_info() -> ModelInfo {
    ModelInfo::columns_for_tests()
}

/// A decode result for `info` is a batch that fits its inputs, within the row limit,
/// or a client error.
pub fn check_fits(info: &ModelInfo, result: Result<Batch, ApiError>) {
    match result {
        Ok(batch) => {
            assert!(batch.rows() >= 1 && batch.rows() <= MAX_ROWS);
            assert_eq!(info.misfit(&batch), None);
        }
        Err(error) => assert!(error.status().is_client_error(), "{error}"),
    }
}

/// A decode result is either a batch the model can run or a client error.
pub fn check(result: Result<Batch, ApiError>) {
    match result {
        Ok(batch) => {
            assert!(batch.rows() >= 1 && batch.rows() <= MAX_ROWS);
            model().predict(&batch).expect("a decoded batch predicts");
        }
        Err(error) => assert!(error.status().is_client_error(), "{error}"),
    }
}
