//! `ai.onnx.ml` LinearClassifier and LinearRegressor (ONNX Operators-ml.md), as
//! onnxruntime's `core/providers/cpu/ml/linearclassifier.cc` and `linearregressor.cc`
//! compute them: one dot product per row and coefficient row, plus its intercept, then
//! `ml_common.h`'s post-transform. What both share lives here.
//!
//! - `classifier`: scores per class (or one for a binary model), the label, the layouts.
//! - `regressor`: one value per target.
//!
//! tract-onnx-opl expands these operators into generic ops (a matrix product, per-row
//! slices, argmax, softmax over rows of a few values), which costs several times the
//! arithmetic (see BENCHMARKS.md, "Models users bring"); here each row is one pass.

pub mod classifier;
pub mod regressor;

use std::borrow::Cow;

use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tree_ensemble::{transform, PostTransform};

/// The `post_transform` attribute: the tree ensembles' transforms, and PROBIT, which
/// onnxruntime applies to these operators too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Post {
    /// NONE, LOGISTIC, SOFTMAX or SOFTMAX_ZERO.
    Common(PostTransform),
    /// `sqrt(2) * erfinv(2x - 1)`, with onnxruntime's approximation of erfinv.
    Probit,
}

impl Post {
    /// The names accepted, for refusals.
    const ACCEPTED: &'static str = "NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT";

    /// `post_transform`, NONE when absent.
    pub fn read(attributes: &Attributes) -> TractResult<Post> {
        let name = attributes
            .string("post_transform")?
            .unwrap_or_else(|| "NONE".into());
        if name == "PROBIT" {
            return Ok(Post::Probit);
        }
        match PostTransform::named(&name) {
            Some(common) => Ok(Post::Common(common)),
            None => Err(attributes
                .id()
                .attribute(
                    "post_transform",
                    format!("is {name}; accepted: {}", Post::ACCEPTED),
                )
                .into()),
        }
    }

    /// Applies the transform to one row's `scores`, as onnxruntime's
    /// `batched_update_scores_inplace` does: to every value (PROBIT, LOGISTIC) or the
    /// row (the softmaxes) of two scores or more, and to a lone score only if PROBIT.
    #[inline]
    pub fn apply(self, scores: &mut [f32]) {
        match self {
            Post::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
            Post::Common(_) if scores.len() < 2 => {}
            Post::Common(PostTransform::None) => {}
            Post::Common(common) => transform(scores, common),
        }
    }
}

/// onnxruntime's `ComputeProbit`: `sqrt(2) * ErfInv(2x - 1)`.
pub fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * x - 1.0)
}

/// onnxruntime's `ErfInv`, Winitzki's approximation with a = 0.147, in single precision.
fn erf_inv(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sign * v3.sqrt()
}

/// `coefficients`, one row of features per each of `rows` (classes or targets).
#[derive(Debug)]
pub struct Weights {
    /// Row-major, `[rows, features]`.
    values: Vec<f32>,
    /// Per row, added to its dot product.
    intercepts: Vec<f32>,
    features: usize,
}

impl Weights {
    /// `coefficients` as `intercepts.len()` rows of a whole number of features: the
    /// check onnxruntime lacks (its GEMM reads the coefficients as `[rows, features of
    /// the input]`, past their end when the input is wider).
    pub fn read(attributes: &Attributes, intercepts: Vec<f32>) -> TractResult<Weights> {
        let id = attributes.id();
        let values = attributes
            .floats("coefficients")?
            .unwrap_or_default()
            .to_vec();
        let rows = intercepts.len();
        let features = values.len() / rows.max(1);
        if rows == 0 || features == 0 || features * rows != values.len() {
            return Err(id
                .attribute(
                    "coefficients",
                    format!(
                        "has {} values; it needs one row of features for each of {rows} rows",
                        values.len()
                    ),
                )
                .into());
        }
        Ok(Weights {
            values,
            intercepts,
            features,
        })
    }

    /// The features a row has.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The coefficient rows.
    pub fn rows(&self) -> usize {
        self.intercepts.len()
    }

    /// Coefficient row `k` (a class's or a target's), one weight per feature.
    pub fn row(&self, k: usize) -> &[f32] {
        &self.values[k * self.features..(k + 1) * self.features]
    }

    /// Per row, what is added to its dot product.
    pub fn intercepts(&self) -> &[f32] {
        &self.intercepts
    }

    /// `x`'s dot product with each coefficient row plus its intercept, into `scores`.
    #[inline]
    pub fn scores(&self, x: &[f32], scores: &mut [f32]) {
        let rows = self.values.chunks_exact(self.features);
        for ((score, w), b) in scores.iter_mut().zip(rows).zip(&self.intercepts) {
            *score = dot(x, w) + b;
        }
    }
}

/// `a . b`, summed in order in single precision.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Refuses, at load, input that is not numbers, `[N, features]` or one row `[features]`;
/// returns the row count. onnxruntime takes rows of any width and reads the coefficients
/// as rows of that width; a model whose coefficients do not fit its rows is refused here,
/// naming the node, rather than answering numbers no one trained.
fn check_input(id: &NodeId, input: &TypedFact, features: usize) -> TractResult<TDim> {
    tensors::require_numeric(id, input.datum_type)?;
    let (rows, width) = match input.rank() {
        1 => (TDim::from(1), input.shape[0].clone()),
        2 => (input.shape[0].clone(), input.shape[1].clone()),
        rank => {
            return Err(id
                .error(format!(
                    "input has {rank} dimensions; it must be [N, {features}] or [{features}]"
                ))
                .into())
        }
    };
    match tensors::concrete(&width) {
        Some(width) if width != features => Err(id
            .error(format!(
                "rows have {width} features, the coefficients {features}"
            ))
            .into()),
        _ => Ok(rows),
    }
}

/// The rows of `input` (as [`check_input`] reads its shape) as floats, cast as C++'s
/// `static_cast<float>` does; float input is read in place.
fn rows<'a>(
    id: &NodeId,
    input: &'a Tensor,
    features: usize,
) -> TractResult<(usize, Cow<'a, [f32]>)> {
    let (rows, width) = match *input.shape() {
        [width] => (1, width),
        [rows, width] => (rows, width),
        _ => (0, 0),
    };
    if width != features || input.rank() > 2 {
        return Err(id
            .error(format!(
                "input is {:?}; it must be [N, {features}] or [{features}]",
                input.shape()
            ))
            .into());
    }
    let values = if input.datum_type() == f32::datum_type() {
        Cow::Borrowed(tensors::slice::<f32>(input)?)
    } else {
        Cow::Owned(tensors::float32s(input)?)
    };
    Ok((rows, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probit_inverts_the_normal_cdf_closely() {
        // Phi(1) = 0.8413447, Phi(-2) = 0.0227501: the approximation is within 2e-3.
        assert!(
            (probit(0.841_344_7) - 1.0).abs() < 2e-3,
            "{}",
            probit(0.841_344_7)
        );
        assert!(
            (probit(0.022_750_1) + 2.0).abs() < 2e-3,
            "{}",
            probit(0.022_750_1)
        );
        assert_eq!(probit(0.5), 0.0);
    }

    #[test]
    fn a_lone_score_is_transformed_only_by_probit() {
        for common in [PostTransform::Logistic, PostTransform::Softmax] {
            let mut one = [3.0f32];
            Post::Common(common).apply(&mut one);
            assert_eq!(one, [3.0]);
        }
        let mut one = [0.5f32];
        Post::Probit.apply(&mut one);
        assert_eq!(one, [0.0]);
    }
}
