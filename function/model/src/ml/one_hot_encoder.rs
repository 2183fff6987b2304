//! `ai.onnx.ml` OneHotEncoder (ONNX Operators-ml.md, "ai.onnx.ml.OneHotEncoder"), as
//! onnxruntime's `core/providers/cpu/ml/onehotencoder.cc` computes it: each value
//! becomes a row of as many floats as categories, 1 at its category's position. Output
//! shape: the input's, plus the categories (skl2onnx reshapes it after). An unknown
//! category is a row of zeros with `zeros` = 1 (the default), a failed run with 0.

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// The categories: position of each, by value.
#[derive(Debug)]
enum Categories {
    Ints(HashMap<i64, usize>),
    Strings(HashMap<String, usize>),
}

/// A OneHotEncoder node.
#[derive(Debug)]
struct OneHotEncoder {
    id: NodeId,
    categories: Categories,
    n_categories: usize,
    /// An unknown category gives zeros (else it fails the run).
    zeros: bool,
}

/// Builds a OneHotEncoder: exactly one of `cats_int64s` and `cats_strings` not empty,
/// `zeros` 0 or 1.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(OneHotEncoder::new(&Attributes::of("OneHotEncoder", node))?)
}

/// Each value's position, the last one when a value is listed twice (onnxruntime fills
/// its map in order, overwriting).
fn positions<K: std::hash::Hash + Eq>(values: impl IntoIterator<Item = K>) -> HashMap<K, usize> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, i))
        .collect()
}

impl OneHotEncoder {
    fn new(attributes: &Attributes) -> TractResult<OneHotEncoder> {
        let id = attributes.id().clone();
        let ints = attributes.ints("cats_int64s")?.unwrap_or_default();
        let strings = attributes.strings("cats_strings")?.unwrap_or_default();
        let (categories, n_categories) = match (ints.is_empty(), strings.is_empty()) {
            (false, true) => (
                Categories::Ints(positions(ints.iter().copied())),
                ints.len(),
            ),
            (true, false) => {
                let n = strings.len();
                (Categories::Strings(positions(strings)), n)
            }
            _ => {
                return Err(id
                    .attribute(
                        "cats_int64s",
                        "or cats_strings: exactly one of them must list the categories",
                    )
                    .into())
            }
        };
        let zeros = match attributes.int("zeros")?.unwrap_or(1) {
            0 => false,
            1 => true,
            other => {
                return Err(id
                    .attribute(
                        "zeros",
                        format!(
                        "is {other}; accepted: 0 (unknown categories fail) or 1 (they give zeros)"
                    ),
                    )
                    .into())
            }
        };
        Ok(OneHotEncoder {
            id,
            categories,
            n_categories,
            zeros,
        })
    }

    /// Writes 1 at each value's category in its row of `out`; `None` is an unknown one.
    fn encode(
        &self,
        found: impl Iterator<Item = Option<usize>>,
        out: &mut [f32],
    ) -> TractResult<()> {
        for (row, category) in found.enumerate() {
            match category {
                Some(k) => out[row * self.n_categories + k] = 1.0,
                None if self.zeros => {}
                None => {
                    return Err(self
                        .id
                        .error(format!("value {row} is an unknown category and zeros is 0"))
                        .into())
                }
            }
        }
        Ok(())
    }
}

/// A number as onnxruntime's `static_cast<int64_t>` turns it into a category on x86:
/// truncated, and NaN or out of range as the "integer indefinite" value, `i64::MIN`.
fn truncated(x: f64) -> i64 {
    // 2^63 is exactly representable; every finite value below it and at or above -2^63
    // truncates into range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

impl Kernel for OneHotEncoder {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        let dt = input.datum_type;
        match self.categories {
            Categories::Strings(_) if dt == String::datum_type() => {}
            Categories::Ints(_) if tensors::is_numeric(dt) => {}
            Categories::Strings(_) => {
                return Err(self
                    .id
                    .attribute(
                        "cats_strings",
                        format!("is for string input, the input is {dt:?}"),
                    )
                    .into())
            }
            Categories::Ints(_) => {
                return Err(self
                    .id
                    .attribute(
                        "cats_int64s",
                        format!("is for numeric input, the input is {dt:?}"),
                    )
                    .into())
            }
        }
        if input.rank() > 2 {
            return Err(self
                .id
                .error(format!(
                    "input has {} dimensions; at most 2 are accepted",
                    input.rank()
                ))
                .into());
        }
        let mut shape = input.shape.to_tvec();
        shape.push(self.n_categories.to_dim());
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let Some(len) = x.len().checked_mul(self.n_categories) else {
            return Err(self
                .id
                .error("the input has too many values to encode")
                .into());
        };
        let mut out = vec![0.0f32; len];
        match &self.categories {
            Categories::Strings(positions) => {
                let found = tensors::slice::<String>(x)?
                    .iter()
                    .map(|s| positions.get(s).copied());
                self.encode(found, &mut out)?;
            }
            Categories::Ints(positions) => {
                let dt = x.datum_type();
                let values: Vec<i64> = if dt == f32::datum_type() || dt == f64::datum_type() {
                    let x = x.cast_to::<f64>()?;
                    tensors::slice::<f64>(&x)?
                        .iter()
                        .map(|&v| truncated(v))
                        .collect()
                } else {
                    tensors::slice::<i64>(tensors::int64s(x)?.as_ref())?.to_vec()
                };
                self.encode(values.iter().map(|v| positions.get(v).copied()), &mut out)?;
            }
        }
        let mut shape = x.shape().to_vec();
        shape.push(self.n_categories);
        Ok(tvec!(tensors::tensor(&shape, out)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{int, ints, node, run, strings};
    use super::*;

    fn encoder(attributes: Vec<tract_onnx::pb::AttributeProto>) -> TractResult<OneHotEncoder> {
        let node = node("OneHotEncoder", attributes);
        OneHotEncoder::new(&Attributes::of("OneHotEncoder", &node))
    }

    fn strings_column(values: &[&str]) -> Tensor {
        let column: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        tensors::tensor(&[values.len(), 1], column).unwrap()
    }

    #[test]
    fn each_string_becomes_a_row_with_one_at_its_category() {
        let encoder = encoder(vec![strings("cats_strings", &["red", "green", "blue"])]).unwrap();
        let out = run(&encoder, vec![strings_column(&["blue", "red"])]).unwrap();
        let expected = tensor3(&[[[0.0f32, 0.0, 1.0]], [[1.0, 0.0, 0.0]]]);
        assert_eq!(out[0], expected);
    }

    #[test]
    fn an_unknown_category_is_all_zeros_when_zeros_is_1() {
        let encoder = encoder(vec![strings("cats_strings", &["a", "b"]), int("zeros", 1)]).unwrap();
        let out = run(&encoder, vec![strings_column(&["c", "b"])]).unwrap();
        assert_eq!(out[0], tensor3(&[[[0.0f32, 0.0]], [[0.0, 1.0]]]));
    }

    #[test]
    fn an_unknown_category_fails_the_run_when_zeros_is_0() {
        let encoder = encoder(vec![strings("cats_strings", &["a", "b"]), int("zeros", 0)]).unwrap();
        let err = run(&encoder, vec![strings_column(&["a", "z"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OneHotEncoder `n`: value 1 is an unknown category and zeros is 0"
        );
    }

    #[test]
    fn float_input_is_truncated_to_an_integer_category() {
        let encoder = encoder(vec![ints("cats_int64s", vec![3, -1, 0])]).unwrap();
        // 3.9 -> 3, -1.5 -> -1, -0.5 -> 0, NaN -> no category
        let x = tensor1(&[3.9f32, -1.5, -0.5, f32::NAN]);
        let out = run(&encoder, vec![x]).unwrap();
        let expected = tensor2(&[
            [1.0f32, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0],
        ]);
        assert_eq!(out[0], expected);
    }

    #[test]
    fn a_category_listed_twice_is_at_its_last_position() {
        let encoder = encoder(vec![ints("cats_int64s", vec![5, 5])]).unwrap();
        let out = run(&encoder, vec![tensor1(&[5i64])]).unwrap();
        assert_eq!(out[0], tensor2(&[[0.0f32, 1.0]]));
    }

    #[test]
    fn categories_of_the_wrong_kind_or_none_are_refused() {
        let err = encoder(vec![]).unwrap_err().to_string();
        assert!(
            err.contains("exactly one of them must list the categories"),
            "{err}"
        );
        let encoder = encoder(vec![ints("cats_int64s", vec![1])]).unwrap();
        let input = String::fact([1usize, 1]);
        let err = encoder.output_facts(&[&input]).unwrap_err().to_string();
        assert!(err.contains("cats_int64s is for numeric input"), "{err}");
    }
}
