//! Shared by the fuzz targets: the bundled model, and the checks every decoded batch
//! must pass (within the row limit, and the model predicts it without failing).

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

/// The model's description as served, and one that takes missing values, so both
/// policies are exercised.
pub fn infos() -> [ModelInfo; 2] {
    let info = model().info().clone();
    let missing = ModelInfo {
        handles_missing: true,
        ..info.clone()
    };
    [info, missing]
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
