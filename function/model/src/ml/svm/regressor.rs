//! SVMRegressor, as onnxruntime's `svmregressor.cc` computes it: with `n_supports`
//! support vectors, `sum(coefficients[v] * kernel(x, vector v)) + rho[0]`; without,
//! `x . coefficients + rho[0]`; with `one_class`, the sign as 1 or -1. One output,
//! [N, 1]. onnxruntime reads `post_transform` and never applies it; so do we.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::super::node::{Attributes, NodeId};
use super::super::tensors;
use super::{exactly, Common, SvmKernel};
use crate::tract_op::{Built, Kernel, KernelOp};

/// An SVMRegressor node.
#[derive(Debug)]
pub struct SvmRegressor {
    id: NodeId,
    kernel: SvmKernel,
    /// Support vectors, `features` values each; empty in the linear layout.
    vectors: Vec<f32>,
    features: usize,
    /// One per support vector, or one per feature in the linear layout.
    coefficients: Vec<f32>,
    rho: f32,
    one_class: bool,
}

/// Builds an SVMRegressor.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(SvmRegressor::new(&Attributes::of("SVMRegressor", node))?)
}

impl SvmRegressor {
    /// Reads the node, refusing what onnxruntime would read out of bounds or fail on.
    pub fn new(attributes: &Attributes) -> TractResult<SvmRegressor> {
        let id = attributes.id().clone();
        let common = Common::read(attributes)?;
        let rho = common.rho0(&id)?;
        let Common {
            kernel,
            coefficients,
            ..
        } = common;
        let one_class = match attributes.int("one_class")?.unwrap_or(0) {
            0 => false,
            1 => true,
            other => {
                return Err(id
                    .attribute("one_class", format!("is {other}; accepted: 0 or 1"))
                    .into())
            }
        };
        let n_supports = attributes.int("n_supports")?.unwrap_or(0);
        let n_supports = usize::try_from(n_supports).map_err(|_| {
            id.attribute(
                "n_supports",
                format!("is {n_supports}; it must be 0 or more"),
            )
        })?;
        let vectors = attributes.floats("support_vectors")?.unwrap_or_default();
        let (kernel, vectors, features) = match vectors.len().checked_div(n_supports) {
            // No support vectors: the liblinear layout, linear whatever the kernel type.
            None => (SvmKernel::LINEAR, Vec::new(), coefficients.len()),
            Some(features) => {
                if features == 0 || !vectors.len().is_multiple_of(n_supports) {
                    let problem = format!(
                        "has {} values for {n_supports} vectors; it needs as many features for each",
                        vectors.len()
                    );
                    return Err(id.attribute("support_vectors", problem).into());
                }
                let what = "one per support vector";
                exactly(&id, "coefficients", &coefficients, n_supports, what)?;
                (kernel, vectors.to_vec(), features)
            }
        };
        Ok(SvmRegressor {
            id,
            kernel,
            vectors,
            features,
            coefficients,
            rho,
            one_class,
        })
    }

    /// The value of row `x`.
    fn value(&self, x: &[f32]) -> f32 {
        let value = if self.vectors.is_empty() {
            self.kernel.of(x, &self.coefficients, self.rho)
        } else {
            let weighed = (self
                .vectors
                .chunks_exact(self.features)
                .zip(&self.coefficients))
            .map(|(v, c)| self.kernel.of(x, v, 0.0) * c);
            weighed.sum::<f32>() + self.rho
        };
        match self.one_class {
            true if value > 0.0 => 1.0,
            true => -1.0,
            false => value,
        }
    }
}

impl Kernel for SvmRegressor {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::check_input(&self.id, inputs[0], self.features)?;
        Ok(tvec!(f32::fact([inputs[0].shape[0].clone(), 1.to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, x) = super::rows(&self.id, &inputs[0], self.features)?;
        let values = x
            .chunks_exact(self.features)
            .map(|row| self.value(row))
            .collect();
        Ok(tvec!(tensors::tensor(&[rows, 1], values)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{floats, int, node, run_1, string};
    use super::*;

    fn regressor(attributes: Vec<tract_onnx::pb::AttributeProto>) -> TractResult<SvmRegressor> {
        let node = node("SVMRegressor", attributes);
        SvmRegressor::new(&Attributes::of("SVMRegressor", &node))
    }

    #[test]
    fn support_vectors_are_weighed_by_their_kernel_plus_rho() {
        // RBF, gamma 0.5: row [1, 1] against [1, 1] (distance 0) and [1, 3] (4):
        // 2 * e^0 - 1 * e^-2 + 0.25
        let regressor = regressor(vec![
            int("n_supports", 2),
            floats("support_vectors", vec![1.0, 1.0, 1.0, 3.0]),
            floats("coefficients", vec![2.0, -1.0]),
            floats("rho", vec![0.25]),
            string("kernel_type", "RBF"),
            floats("kernel_params", vec![0.5, 0.0, 3.0]),
        ])
        .unwrap();
        let y = run_1(&regressor, tensor2(&[[1.0f32, 1.0]]));
        let expected = 2.0 - (-2.0f32).exp() + 0.25;
        assert!(
            (tensors::slice::<f32>(&y).unwrap()[0] - expected).abs() < 1e-6,
            "{y:?}"
        );
        assert_eq!(y.shape(), [1, 1]);
    }

    #[test]
    fn without_support_vectors_it_is_linear_whatever_the_kernel() {
        let regressor = regressor(vec![
            floats("coefficients", vec![2.0, -1.0]),
            floats("rho", vec![0.5]),
            string("kernel_type", "RBF"),
            floats("kernel_params", vec![0.5, 0.0, 3.0]),
        ])
        .unwrap();
        // 2 * 3 - 1 * 4 + 0.5
        assert_eq!(
            run_1(&regressor, tensor2(&[[3.0f32, 4.0]])),
            tensor2(&[[2.5f32]])
        );
    }

    #[test]
    fn one_class_answers_the_sign() {
        let regressor = regressor(vec![
            floats("coefficients", vec![1.0]),
            floats("rho", vec![0.0]),
            int("one_class", 1),
        ])
        .unwrap();
        let y = run_1(&regressor, tensor2(&[[0.5f32], [0.0], [-3.0]]));
        assert_eq!(y, tensor2(&[[1.0f32], [-1.0], [-1.0]]));
    }

    #[test]
    fn coefficients_not_one_per_support_vector_are_refused() {
        let err = regressor(vec![
            int("n_supports", 2),
            floats("support_vectors", vec![1.0, 2.0]),
            floats("coefficients", vec![1.0]),
            floats("rho", vec![0.0]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SVMRegressor `n`: attribute coefficients has 1 values; it needs 2 (one per support vector)"
        );
    }
}
