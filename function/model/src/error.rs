//! Why a model does not load or does not run: the crate's two error types, and the
//! `unsupported` helper every load step builds its refusals with.

use tract_onnx::prelude::TractError;

/// Why a model file cannot be served. Each message names the file's problem.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read. The OS error is the source, so a report that prints
    /// the chain (`{:#}`) names it once.
    #[error("cannot read model file {path}")]
    Read {
        /// The path given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// A valid ONNX file this function cannot serve.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// tract refused the graph.
    #[error("tract cannot load the model: {0}")]
    Tract(String),
}

/// A [`LoadError::Unsupported`] saying `message`.
pub(crate) fn unsupported(message: impl Into<String>) -> LoadError {
    LoadError::Unsupported(message.into())
}

/// Why a prediction failed. Inputs are validated before they reach the model, so this
/// is an internal error when it happens.
#[derive(Debug, thiserror::Error)]
#[error("the model failed to run: {0:#}")]
pub struct PredictError(#[from] TractError);

#[cfg(test)]
mod tests {
    /// The OS error is the source and not in the message, so `{:#}` prints it once.
    #[test]
    fn a_read_error_leaves_its_cause_to_the_source() {
        let path = std::path::Path::new("/nonexistent/model.onnx");
        let err = crate::Model::from_path(path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read model file /nonexistent/model.onnx"
        );
        let source = std::error::Error::source(&err).expect("the OS error");
        assert!(source.to_string().contains("No such file"), "{source}");
    }
}
