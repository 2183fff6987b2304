//! LinearRegressor, as onnxruntime's `linearregressor.cc` computes it: `targets` dot
//! products per row, plus `intercepts` when there is one per target (onnxruntime
//! ignores them otherwise), then the post-transform (a lone target: only PROBIT).
//! onnxruntime takes float input only; the other numbers are cast as the classifier
//! casts them.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::super::node::{Attributes, NodeId};
use super::super::tensors;
use super::{Post, Weights};
use crate::tract_op::{Built, Kernel, KernelOp};

/// A LinearRegressor node.
#[derive(Debug)]
pub struct LinearRegressor {
    id: NodeId,
    /// One row per target.
    weights: Weights,
    post: Post,
}

/// Builds a LinearRegressor.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(LinearRegressor::new(&Attributes::of(
        "LinearRegressor",
        node,
    ))?)
}

impl LinearRegressor {
    /// Reads the node: `targets` at least 1 (1 when absent, the ONNX default, where
    /// onnxruntime requires it), `coefficients` one row per target.
    pub fn new(attributes: &Attributes) -> TractResult<LinearRegressor> {
        let id = attributes.id().clone();
        let targets = match attributes.int("targets")?.unwrap_or(1) {
            targets @ 1..=0xffff_ffff => targets as usize,
            targets => {
                return Err(id
                    .attribute("targets", format!("is {targets}; it must be 1 or more"))
                    .into())
            }
        };
        let intercepts = attributes.floats("intercepts")?.unwrap_or_default();
        let intercepts = match intercepts.len() == targets {
            true => intercepts.to_vec(),
            false => vec![0.0; targets],
        };
        Ok(LinearRegressor {
            weights: Weights::read(attributes, intercepts)?,
            post: Post::read(attributes)?,
            id,
        })
    }

    /// The coefficients and intercepts: one row per score, before `post_transform`
    /// (for explanations, which are in that raw score space).
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Every row's `targets` values into `out`.
    fn predict(&self, x: &[f32], out: &mut [f32]) {
        let rows = x.chunks_exact(self.weights.features());
        for (x, out) in rows.zip(out.chunks_exact_mut(self.weights.rows())) {
            self.weights.scores(x, out);
            self.post.apply(out);
        }
    }
}

impl Kernel for LinearRegressor {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = super::check_input(&self.id, inputs[0], self.weights.features())?;
        Ok(tvec!(f32::fact([rows, self.weights.rows().to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, x) = super::rows(&self.id, &inputs[0], self.weights.features())?;
        let targets = self.weights.rows();
        let mut out = vec![0.0f32; rows * targets];
        self.predict(&x, &mut out);
        Ok(tvec!(tensors::tensor(&[rows, targets], out)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{floats, int, node, run_1, string};
    use super::*;

    fn regressor(attributes: Vec<tract_onnx::pb::AttributeProto>) -> TractResult<LinearRegressor> {
        let node = node("LinearRegressor", attributes);
        LinearRegressor::new(&Attributes::of("LinearRegressor", &node))
    }

    #[test]
    fn each_target_has_its_row_of_coefficients_and_its_intercept() {
        let regressor = regressor(vec![
            int("targets", 3),
            floats("coefficients", vec![1.0, 2.0, -1.0, 0.5, 0.0, 0.0]),
            floats("intercepts", vec![0.5, -1.0, 2.0]),
        ])
        .unwrap();
        let y = run_1(&regressor, tensor2(&[[1.0f32, 2.0], [-2.0, 4.0]]));
        // Row 1: 1 + 4 + 0.5, -1 + 1 - 1, 0 + 2; row 2: -2 + 8 + 0.5, 2 + 2 - 1, 2.
        assert_eq!(y, tensor2(&[[5.5f32, -1.0, 2.0], [6.5, 3.0, 2.0]]));
    }

    #[test]
    fn intercepts_not_one_per_target_are_ignored() {
        let regressor = regressor(vec![
            int("targets", 2),
            floats("coefficients", vec![1.0, 2.0]),
            floats("intercepts", vec![10.0]),
        ])
        .unwrap();
        assert_eq!(
            run_1(&regressor, tensor2(&[[3.0f32]])),
            tensor2(&[[3.0f32, 6.0]])
        );
    }

    #[test]
    fn probit_transforms_a_lone_target_and_softmax_does_not() {
        let with = |post: &str| {
            regressor(vec![
                int("targets", 1),
                floats("coefficients", vec![1.0]),
                string("post_transform", post),
            ])
            .unwrap()
        };
        let x = tensor2(&[[0.5f32]]);
        assert_eq!(run_1(&with("PROBIT"), x.clone()), tensor2(&[[0.0f32]]));
        assert_eq!(run_1(&with("SOFTMAX"), x), tensor2(&[[0.5f32]]));
    }

    #[test]
    fn one_row_as_a_vector_and_integer_input_are_read() {
        let regressor = regressor(vec![
            int("targets", 1),
            floats("coefficients", vec![1.0, -1.0]),
        ])
        .unwrap();
        assert_eq!(run_1(&regressor, tensor1(&[3i64, 1])), tensor2(&[[2.0f32]]));
    }

    #[test]
    fn a_scalar_input_is_refused_at_load() {
        let regressor = regressor(vec![floats("coefficients", vec![1.0])]).unwrap();
        let err = regressor.output_facts(&[&f32::scalar_fact()]).unwrap_err();
        assert!(err.to_string().contains("input has 0 dimensions"), "{err}");
    }

    #[test]
    fn coefficients_for_another_width_are_refused_at_load() {
        let regressor = regressor(vec![
            int("targets", 2),
            floats("coefficients", vec![1.0; 6]),
        ])
        .unwrap();
        let input = f32::fact([TDim::from(4), TDim::from(2)]);
        let err = regressor.output_facts(&[&input]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LinearRegressor `n`: rows have 2 features, the coefficients 3"
        );
    }

    #[test]
    fn no_targets_and_ragged_coefficients_are_refused() {
        let err = regressor(vec![int("targets", 0), floats("coefficients", vec![1.0])]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "LinearRegressor `n`: attribute targets is 0; it must be 1 or more"
        );
        let ragged = vec![int("targets", 2), floats("coefficients", vec![1.0; 3])];
        let err = regressor(ragged).unwrap_err();
        assert!(
            err.to_string()
                .contains("attribute coefficients has 3 values"),
            "{err}"
        );
    }
}
