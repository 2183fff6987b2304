//! A prediction's output tensors, each as its shape and elements borrowed from the
//! prediction: V2 REST writes them as JSON (`super`), gRPC as raw or typed contents
//! (`super::grpc`), from this one reading of the model's answer.

use serde::Serialize;

use super::metadata::{OutputKind, OutputSpec};
use model::{Labels, Predicted, Prediction};

/// One output's elements. Serialises as a plain JSON array; f32 stays f32 so numbers
/// print as `/predict` prints them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum OutputData<'a> {
    /// INT64 labels.
    Int(&'a [i64]),
    /// BYTES labels.
    Str(&'a [String]),
    /// FP32 probabilities or values.
    Float(&'a [f32]),
}

/// The output `spec` of `prediction`: its shape (`[N]` for labels, `[N, k]` for
/// probabilities and values) and elements, flat in row-major order.
pub(super) fn output_tensor<'a>(
    spec: &OutputSpec<'_>,
    prediction: &'a Prediction,
) -> (Vec<usize>, OutputData<'a>) {
    let rows = prediction.predicted.rows();
    match (spec.kind, &prediction.predicted) {
        (OutputKind::Label, Predicted::Labels(Labels::Int(labels))) => {
            (vec![rows], OutputData::Int(labels))
        }
        (OutputKind::Label, Predicted::Labels(Labels::Str(labels))) => {
            (vec![rows], OutputData::Str(labels))
        }
        (OutputKind::Values, Predicted::Values { values, targets }) => {
            (vec![rows, *targets], OutputData::Float(values))
        }
        (OutputKind::Probabilities, _) => {
            let probabilities = prediction
                .probabilities
                .as_deref()
                .expect("a classifier with a probabilities output predicts them");
            let classes = probabilities.len().checked_div(rows).unwrap_or(0);
            (vec![rows, classes], OutputData::Float(probabilities))
        }
        _ => unreachable!("output specs follow the model's task"),
    }
}
