//! `ai.onnx.ml` Imputer (ONNX Operators-ml.md, "ai.onnx.ml.Imputer"), as onnxruntime's
//! `core/providers/cpu/ml/imputer.cc` computes it: every value equal to the replaced
//! value (any NaN when that is NaN) becomes the imputed value of its feature, float or
//! int64.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// What replaces what: float values for float input, int64 values for integer input.
#[derive(Debug)]
enum Imputed {
    Floats { values: Vec<f32>, replaced: f32 },
    Ints { values: Vec<i64>, replaced: i64 },
}

/// An Imputer node.
#[derive(Debug)]
struct Imputer {
    id: NodeId,
    imputed: Imputed,
}

/// Builds an Imputer: exactly one of `imputed_value_floats` and `imputed_value_int64s`
/// not empty (as onnxruntime requires). The replaced values default to 0 and 0.0, the
/// ONNX schema's defaults, which onnxruntime fills in before its kernel reads them;
/// scikit-learn exports write `replaced_value_float` (NaN for `np.nan`).
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(Imputer::new(&Attributes::of("Imputer", node))?)
}

impl Imputer {
    fn new(attributes: &Attributes) -> TractResult<Imputer> {
        let id = attributes.id().clone();
        let floats = attributes
            .floats("imputed_value_floats")?
            .unwrap_or_default();
        let ints = attributes.ints("imputed_value_int64s")?.unwrap_or_default();
        let imputed = match (floats.is_empty(), ints.is_empty()) {
            (false, true) => Imputed::Floats {
                values: floats.to_vec(),
                replaced: attributes.float("replaced_value_float")?.unwrap_or(0.0),
            },
            (true, false) => Imputed::Ints {
                values: ints.to_vec(),
                replaced: attributes.int("replaced_value_int64")?.unwrap_or(0),
            },
            _ => {
                return Err(id
                    .attribute(
                        "imputed_value_floats",
                        "or imputed_value_int64s: exactly one of them must have values",
                    )
                    .into())
            }
        };
        Ok(Imputer { id, imputed })
    }

    /// The imputed values: float values for float input, integer values for integer
    /// input, refused otherwise.
    fn check_input(&self, dt: DatumType) -> TractResult<DatumType> {
        match &self.imputed {
            Imputed::Floats { .. } if dt == f32::datum_type() => Ok(dt),
            Imputed::Ints { .. } if tensors::is_int64_like(dt) => Ok(i64::datum_type()),
            Imputed::Floats { .. } => Err(self
                .id
                .attribute(
                    "imputed_value_floats",
                    format!("is for float input, the input is {dt:?}"),
                )
                .into()),
            Imputed::Ints { .. } => Err(self
                .id
                .attribute(
                    "imputed_value_int64s",
                    format!("is for int64 input, the input is {dt:?}"),
                )
                .into()),
        }
    }

    fn n_values(&self) -> usize {
        match &self.imputed {
            Imputed::Floats { values, .. } => values.len(),
            Imputed::Ints { values, .. } => values.len(),
        }
    }
}

/// `xs`, rows of `stride` features, with every value `is_replaced` says replaced by
/// the imputed value of its feature (or the first imputed value, when there are not
/// one per feature, as onnxruntime reads them).
fn impute<T: Copy>(
    xs: &[T],
    stride: usize,
    values: &[T],
    is_replaced: impl Fn(T) -> bool,
) -> Vec<T> {
    let per_feature = values.len() == stride;
    (xs.iter().enumerate())
        .map(|(i, &x)| match is_replaced(x) {
            true if per_feature => values[i % stride],
            true => values[0],
            false => x,
        })
        .collect()
}

impl Kernel for Imputer {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        let dt = self.check_input(input.datum_type)?;
        let attribute = match self.imputed {
            Imputed::Floats { .. } => "imputed_value_floats",
            Imputed::Ints { .. } => "imputed_value_int64s",
        };
        tensors::check_per_feature(&self.id, attribute, self.n_values(), input)?;
        Ok(tvec!(dt.fact(input.shape.iter().cloned())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let shape = x.shape();
        let stride = tensors::feature_axis(shape.len()).map_or(0, |axis| shape[axis]);
        let y = match &self.imputed {
            Imputed::Floats { values, replaced } => {
                let replaced = *replaced;
                let is_replaced = |v: f32| (v.is_nan() && replaced.is_nan()) || v == replaced;
                tensors::tensor(
                    shape,
                    impute(tensors::slice::<f32>(x)?, stride, values, is_replaced),
                )?
            }
            Imputed::Ints { values, replaced } => {
                let ints = tensors::int64s(x)?;
                let xs = tensors::slice::<i64>(&ints)?;
                tensors::tensor(shape, impute(xs, stride, values, |v| v == *replaced))?
            }
        };
        Ok(tvec!(y.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{float, floats, int, ints, node, run_1};
    use super::*;

    fn imputer(attributes: Vec<tract_onnx::pb::AttributeProto>) -> TractResult<Imputer> {
        let node = node("Imputer", attributes);
        Imputer::new(&Attributes::of("Imputer", &node))
    }

    #[test]
    fn nan_is_replaced_by_its_features_value_when_nan_is_the_replaced_value() {
        let imputer = imputer(vec![
            floats("imputed_value_floats", vec![1.5, -2.0]),
            float("replaced_value_float", f32::NAN),
        ])
        .unwrap();
        let x = tensor2(&[[f32::NAN, 3.0], [4.0, f32::NAN]]);
        assert_eq!(run_1(&imputer, x), tensor2(&[[1.5f32, 3.0], [4.0, -2.0]]));
    }

    #[test]
    fn the_replaced_value_defaults_to_zero_and_nan_then_stays() {
        let imputer = imputer(vec![floats("imputed_value_floats", vec![9.0])]).unwrap();
        let x = tensor2(&[[0.0f32, f32::NAN, -0.0]]);
        let y = run_1(&imputer, x);
        let y = tensors::slice::<f32>(&y).unwrap();
        assert_eq!(
            (y[0], y[2]),
            (9.0, 9.0),
            "0.0 and -0.0 equal the replaced 0.0"
        );
        assert!(y[1].is_nan());
    }

    #[test]
    fn a_single_imputed_value_applies_to_every_feature() {
        let imputer = imputer(vec![
            floats("imputed_value_floats", vec![7.0]),
            float("replaced_value_float", -1.0),
        ])
        .unwrap();
        let x = tensor2(&[[-1.0f32, 2.0, -1.0]]);
        assert_eq!(run_1(&imputer, x), tensor2(&[[7.0f32, 2.0, 7.0]]));
    }

    #[test]
    fn integer_input_takes_integer_values() {
        let imputer = imputer(vec![
            ints("imputed_value_int64s", vec![10, 20]),
            int("replaced_value_int64", -1),
        ])
        .unwrap();
        let x = tensor2(&[[-1i64, 5], [3, -1]]);
        assert_eq!(run_1(&imputer, x), tensor2(&[[10i64, 5], [3, 20]]));
    }

    #[test]
    fn both_or_neither_value_list_is_refused() {
        for attributes in [
            vec![],
            vec![
                floats("imputed_value_floats", vec![1.0]),
                ints("imputed_value_int64s", vec![1]),
            ],
        ] {
            let err = imputer(attributes).unwrap_err().to_string();
            assert!(
                err.contains("exactly one of them must have values"),
                "{err}"
            );
        }
    }

    #[test]
    fn float_values_for_integer_input_are_refused_at_load() {
        let imputer = imputer(vec![floats("imputed_value_floats", vec![1.0])]).unwrap();
        let input = i64::fact([1usize, 1]);
        let err = imputer.output_facts(&[&input]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Imputer `n`: attribute imputed_value_floats is for float input, the input is I64"
        );
    }
}
