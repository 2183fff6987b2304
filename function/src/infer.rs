//! The one call into the model that every protocol makes: where the model's time and
//! rows are measured, and where a big batch is sent off the worker threads. The same for
//! explanations.

use model::{Batch, Explanation, Prediction};

use crate::error::ApiError;
use crate::state::App;

/// Predicts `batch` with the served model, on the blocking pool when it is big (see
/// [`crate::runtime::Offload`]). A failure is the model's, so a 500.
pub async fn predict(app: &App, batch: Batch) -> Result<Prediction, ApiError> {
    let started = app.metrics.as_ref().map(|_| std::time::Instant::now());
    let rows = batch.rows();
    let prediction = if app.offload.wants(rows, app.model.work_per_row()) {
        let model = std::sync::Arc::clone(&app.model);
        app.offload.run(move || model.predict(&batch)).await
    } else {
        app.model.predict(&batch)
    }
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let (Some(metrics), Some(started)) = (&app.metrics, started) {
        metrics.record_inference(rows, started.elapsed());
    }
    Ok(prediction)
}

/// Bytes an explained row takes, per SHAP value, until its answer is sent: the `f64`
/// and its JSON text (up to 24 characters), with room for the row's vectors and names.
const EXPLANATION_BYTES_PER_VALUE: usize = 48;
const EXPLANATION_BYTES_PER_ROW: usize = 256;

/// Explains every row of `batch` (SHAP values, see [`model::Explainer`]), on the
/// blocking pool when the batch is big. A model that cannot be explained (no covers or
/// means in its file, a graph that is not one tree ensemble or linear model) is the
/// client's 400, saying why. The explanations are charged to the request's memory
/// budget before they are built: (features + 1) values per output per row, more than
/// the batch itself.
pub async fn explain(app: &App, batch: Batch) -> Result<Vec<Explanation>, ApiError> {
    let explainer = (app.model.explainer()).map_err(|why| ApiError::BadRequest(why.to_string()))?;
    let per_row =
        (app.model.n_features() + 1) * explainer.n_outputs().max(1) * EXPLANATION_BYTES_PER_VALUE
            + EXPLANATION_BYTES_PER_ROW;
    crate::budget::charge(batch.rows().saturating_mul(per_row))?;
    let started = app.metrics.as_ref().map(|_| std::time::Instant::now());
    let rows = batch.rows();
    let work = app.model.work_per_row() * explainer.cost_per_row();
    let explanations = if app.offload.wants(rows, work) {
        let model = std::sync::Arc::clone(&app.model);
        app.offload.run(move || model.explain(&batch)).await
    } else {
        app.model.explain(&batch)
    }
    .map_err(ApiError::Internal)?;
    if let (Some(metrics), Some(started)) = (&app.metrics, started) {
        metrics.record_explanation(rows, started.elapsed());
    }
    Ok(explanations)
}
