//! `ai.onnx.ml` SVMClassifier and SVMRegressor (ONNX Operators-ml.md), as onnxruntime's
//! `core/providers/cpu/ml/svmclassifier.{h,cc}` and `svmregressor.cc` compute them. What
//! both share lives here: the kernel (`kernel_type`, `kernel_params`: onnxruntime's
//! `SVMCommon::batched_kernel_dot`) and the checks of the input's width.
//!
//! - `classifier`: one-vs-one votes, Platt probabilities, labels and scores.
//! - `probability`: libsvm's pairwise-coupling probabilities, as `ml_common.h` has them.
//! - `regressor`: a support-vector or linear sum, one output.

pub mod classifier;
mod probability;
pub mod regressor;

use tract_onnx::prelude::*;

use super::node::{Attributes, NodeId};
use super::tensors;

/// The kernel types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KernelType {
    Linear,
    Poly,
    Rbf,
    Sigmoid,
}

/// A kernel with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvmKernel {
    kind: KernelType,
    gamma: f32,
    coef0: f32,
    degree: f32,
}

impl SvmKernel {
    /// The linear kernel, which onnxruntime uses whatever `kernel_type` says when there
    /// are no support vectors (the liblinear layout).
    pub const LINEAR: SvmKernel = SvmKernel {
        kind: KernelType::Linear,
        gamma: 0.0,
        coef0: 0.0,
        degree: 0.0,
    };

    /// `kernel_type` (LINEAR by default) with `kernel_params` (gamma, coef0, degree; all
    /// 0 when absent, which onnxruntime refuses but LINEAR does not read).
    pub fn read(attributes: &Attributes) -> TractResult<SvmKernel> {
        let id = attributes.id();
        let name = attributes
            .string("kernel_type")?
            .unwrap_or_else(|| "LINEAR".into());
        let kind = match name.as_str() {
            "LINEAR" => KernelType::Linear,
            "POLY" => KernelType::Poly,
            "RBF" => KernelType::Rbf,
            "SIGMOID" => KernelType::Sigmoid,
            other => {
                return Err(id
                    .attribute(
                        "kernel_type",
                        format!("is {other}; accepted: LINEAR, POLY, RBF, SIGMOID"),
                    )
                    .into())
            }
        };
        let (gamma, coef0, degree) = match attributes.floats("kernel_params")?.unwrap_or_default() {
            [] => (0.0, 0.0, 0.0),
            &[gamma, coef0, degree] => (gamma, coef0, degree),
            other => {
                return Err(id
                    .attribute(
                        "kernel_params",
                        format!(
                            "has {} values; it needs 3 (gamma, coef0, degree)",
                            other.len()
                        ),
                    )
                    .into())
            }
        };
        Ok(SvmKernel {
            kind,
            gamma,
            coef0,
            degree,
        })
    }

    /// The kernel of row `x` and vector `v`, with `c` added by the linear kernel (the
    /// scalar onnxruntime passes its GEMM: 0 against support vectors, `rho[0]` against
    /// coefficients). Single precision, as onnxruntime computes it.
    pub fn of(&self, x: &[f32], v: &[f32], c: f32) -> f32 {
        let dot = || x.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
        match self.kind {
            KernelType::Linear => dot() + c,
            KernelType::Rbf => {
                let distance: f32 = x.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                (-self.gamma * distance).exp()
            }
            KernelType::Poly => {
                let base = self.gamma * dot() + self.coef0;
                // onnxruntime squares and cubes rather than calling pow for those.
                if self.degree == 2.0 {
                    base * base
                } else if self.degree == 3.0 {
                    base * base * base
                } else {
                    base.powf(self.degree)
                }
            }
            KernelType::Sigmoid => (self.gamma * dot() + self.coef0).tanh(),
        }
    }
}

/// What both operators read alike: the kernel (which onnxruntime reads even when the
/// layout makes it linear), `coefficients` (not empty) and `rho`.
struct Common {
    kernel: SvmKernel,
    coefficients: Vec<f32>,
    rho: Vec<f32>,
}

impl Common {
    fn read(attributes: &Attributes) -> TractResult<Common> {
        let kernel = SvmKernel::read(attributes)?;
        let coefficients = attributes
            .floats("coefficients")?
            .unwrap_or_default()
            .to_vec();
        if coefficients.is_empty() {
            return Err(attributes
                .id()
                .attribute("coefficients", "is missing or empty")
                .into());
        }
        let rho = attributes.floats("rho")?.unwrap_or_default().to_vec();
        Ok(Common {
            kernel,
            coefficients,
            rho,
        })
    }

    /// `rho[0]`, which the linear layouts and the regressor add.
    fn rho0(&self, id: &NodeId) -> TractResult<f32> {
        match self.rho.first() {
            Some(&rho) => Ok(rho),
            None => Err(id.attribute("rho", "is missing or empty").into()),
        }
    }
}

/// Refuses, at load, input that is not [N, `features`] numbers.
fn check_input(id: &NodeId, input: &TypedFact, features: usize) -> TractResult<()> {
    tensors::require_numeric(id, input.datum_type)?;
    let width = (input.rank() == 2).then(|| tensors::concrete(&input.shape[1]));
    match width {
        None => Err(id
            .error(format!(
                "input has {} dimensions; it must be [N, {features}]",
                input.rank()
            ))
            .into()),
        Some(Some(width)) if width != features => Err(id
            .error(format!("rows have {width} features, the model {features}"))
            .into()),
        Some(_) => Ok(()),
    }
}

/// The rows of `input`, [N, `features`], as floats.
fn rows(id: &NodeId, input: &Tensor, features: usize) -> TractResult<(usize, Vec<f32>)> {
    match input.shape() {
        &[rows, width] if width == features => Ok((rows, tensors::float32s(input)?)),
        shape => Err(id
            .error(format!("input is {shape:?}; it must be [N, {features}]"))
            .into()),
    }
}

/// A list attribute that must have exactly `expected` values.
fn exactly<'a, T>(
    id: &NodeId,
    name: &str,
    values: &'a [T],
    expected: usize,
    what: &str,
) -> TractResult<&'a [T]> {
    if values.len() != expected {
        return Err(id
            .attribute(
                name,
                format!("has {} values; it needs {expected} ({what})", values.len()),
            )
            .into());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(kind: KernelType, gamma: f32, coef0: f32, degree: f32) -> SvmKernel {
        SvmKernel {
            kind,
            gamma,
            coef0,
            degree,
        }
    }

    #[test]
    fn each_kernel_type_computes_its_formula() {
        let (x, v) = ([1.0f32, 2.0], [3.0f32, -1.0]);
        // dot = 3 - 2 = 1; squared distance = 4 + 9 = 13
        assert_eq!(SvmKernel::LINEAR.of(&x, &v, 0.5), 1.5);
        assert_eq!(
            kernel(KernelType::Poly, 2.0, 1.0, 3.0).of(&x, &v, 9.0),
            27.0
        );
        assert_eq!(kernel(KernelType::Poly, 1.0, 0.0, 0.5).of(&x, &v, 0.0), 1.0);
        let rbf = kernel(KernelType::Rbf, 0.1, 0.0, 0.0).of(&x, &v, 0.0);
        assert!((rbf - (-1.3f32).exp()).abs() < 1e-7, "{rbf}");
        let sigmoid = kernel(KernelType::Sigmoid, 0.5, 0.25, 0.0).of(&x, &v, 0.0);
        assert!((sigmoid - 0.75f32.tanh()).abs() < 1e-7, "{sigmoid}");
    }
}
