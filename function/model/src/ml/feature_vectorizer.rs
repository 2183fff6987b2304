//! `ai.onnx.ml` FeatureVectorizer (ONNX Operators-ml.md, "ai.onnx.ml.FeatureVectorizer"),
//! as onnxruntime's `core/providers/cpu/ml/feature_vectorizer.cc` computes it: the
//! inputs' rows side by side as floats, each input taking `inputdimensions[i]` columns
//! (cut when it has more values per row, padded with zeros when it has fewer).

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// The most columns the output may have: far more than any tabular model, few enough
/// that a row of them is a small allocation.
const MAX_COLUMNS: usize = 1 << 20;

/// A FeatureVectorizer node.
#[derive(Debug)]
struct FeatureVectorizer {
    id: NodeId,
    /// Per input, the columns it takes.
    widths: Vec<usize>,
}

/// Builds a FeatureVectorizer: `inputdimensions` one non-negative width per input.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let n_inputs = node.input.len();
    KernelOp::built(FeatureVectorizer::new(
        &Attributes::of("FeatureVectorizer", node),
        n_inputs,
    )?)
}

impl FeatureVectorizer {
    fn new(attributes: &Attributes, n_inputs: usize) -> TractResult<FeatureVectorizer> {
        let id = attributes.id().clone();
        let dims = attributes.ints("inputdimensions")?.unwrap_or_default();
        if dims.len() != n_inputs {
            return Err(id
                .attribute(
                    "inputdimensions",
                    format!(
                        "has {} values for {n_inputs} inputs; it needs one per input",
                        dims.len()
                    ),
                )
                .into());
        }
        let widths = (dims.iter())
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| id.attribute("inputdimensions", "has a negative width"))?;
        let total = widths.iter().try_fold(0usize, |sum, &w| sum.checked_add(w));
        if total.is_none_or(|total| total > MAX_COLUMNS) {
            return Err(id
                .attribute(
                    "inputdimensions",
                    format!("adds up to more than {MAX_COLUMNS} columns"),
                )
                .into());
        }
        Ok(FeatureVectorizer { id, widths })
    }

    fn total(&self) -> usize {
        self.widths.iter().sum()
    }
}

/// Rows of an input as onnxruntime reads it: a vector is one row, anything else is
/// `dims[0]` rows of the remaining values.
fn rows_of(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [rows, rest @ ..] => (*rows, rest.iter().product()),
    }
}

impl Kernel for FeatureVectorizer {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn n_inputs(&self) -> usize {
        self.widths.len()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        if let Some((i, input)) = inputs
            .iter()
            .enumerate()
            .find(|(_, f)| !tensors::is_numeric(f.datum_type))
        {
            return Err(self
                .id
                .error(format!(
                    "input {i} is {:?}; accepted: float, double, int64, int32",
                    input.datum_type
                ))
                .into());
        }
        let first = inputs[0];
        let rows = if first.rank() <= 1 {
            1.to_dim()
        } else {
            first.shape[0].clone()
        };
        Ok(tvec!(f32::fact([rows, self.total().to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, _) = rows_of(inputs[0].shape());
        let total = self.total();
        let Some(len) = rows.checked_mul(total) else {
            return Err(self
                .id
                .error(format!("{rows} rows of {total} columns are too many"))
                .into());
        };
        let mut out = vec![0.0f32; len];
        let mut offset = 0;
        for (i, (input, &width)) in inputs.iter().zip(&self.widths).enumerate() {
            let (input_rows, size) = rows_of(input.shape());
            if input_rows != rows {
                return Err(self
                    .id
                    .error(format!(
                        "input {i} has {input_rows} rows, input 0 has {rows}"
                    ))
                    .into());
            }
            let values = tensors::float32s(input)?;
            let taken = size.min(width);
            for (row, chunk) in values.chunks_exact(size.max(1)).take(rows).enumerate() {
                let at = row * total + offset;
                out[at..at + taken].copy_from_slice(&chunk[..taken]);
            }
            offset += width;
        }
        Ok(tvec!(tensors::tensor(&[rows, total], out)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ints, node, run};
    use super::*;

    fn vectorizer(widths: Vec<i64>, n_inputs: usize) -> TractResult<FeatureVectorizer> {
        let node = node("FeatureVectorizer", vec![ints("inputdimensions", widths)]);
        FeatureVectorizer::new(&Attributes::of("FeatureVectorizer", &node), n_inputs)
    }

    #[test]
    fn inputs_of_any_numeric_type_are_concatenated_as_floats() {
        let vectorizer = vectorizer(vec![2, 1], 2).unwrap();
        let a = tensor2(&[[1.5f32, 2.5], [3.5, 4.5]]);
        let b = tensor2(&[[7i64], [-8]]);
        let out = run(&vectorizer, vec![a, b]).unwrap();
        assert_eq!(out[0], tensor2(&[[1.5f32, 2.5, 7.0], [3.5, 4.5, -8.0]]));
    }

    #[test]
    fn wider_inputs_are_cut_and_narrower_ones_padded_with_zeros() {
        let vectorizer = vectorizer(vec![1, 3], 2).unwrap();
        let a = tensor2(&[[1.0f32, 99.0]]);
        let b = tensor2(&[[2.0f64, 3.0]]);
        let out = run(&vectorizer, vec![a, b]).unwrap();
        assert_eq!(out[0], tensor2(&[[1.0f32, 2.0, 3.0, 0.0]]));
    }

    #[test]
    fn a_width_per_input_is_required() {
        let err = vectorizer(vec![1], 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "FeatureVectorizer `n`: attribute inputdimensions has 1 values for 2 inputs; it needs one per input"
        );
        assert!(vectorizer(vec![-1], 1).is_err());
    }

    #[test]
    fn inputs_with_different_row_counts_are_refused() {
        let vectorizer = vectorizer(vec![1, 1], 2).unwrap();
        let a = tensor2(&[[1.0f32], [2.0]]);
        let b = tensor2(&[[1.0f32]]);
        let err = run(&vectorizer, vec![a, b]).unwrap_err();
        assert!(
            err.to_string()
                .contains("input 1 has 1 rows, input 0 has 2"),
            "{err}"
        );
    }
}
