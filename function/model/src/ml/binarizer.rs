//! `ai.onnx.ml` Binarizer (ONNX Operators-ml.md, "ai.onnx.ml.Binarizer"), as
//! onnxruntime's `core/providers/cpu/ml/binarizer.cc` computes it: `x > threshold` as
//! 1 or 0, on float input only, and a NaN input fails the run.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// A Binarizer node.
#[derive(Debug)]
struct Binarizer {
    id: NodeId,
    threshold: f32,
}

/// Builds a Binarizer; `threshold` defaults to 0, the ONNX schema's default (which
/// onnxruntime fills in before its kernel reads the node).
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(Binarizer::new(&Attributes::of("Binarizer", node))?)
}

impl Binarizer {
    fn new(attributes: &Attributes) -> TractResult<Binarizer> {
        Ok(Binarizer {
            id: attributes.id().clone(),
            threshold: attributes.float("threshold")?.unwrap_or(0.0),
        })
    }
}

impl Kernel for Binarizer {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        if input.datum_type != f32::datum_type() {
            return Err(self
                .id
                .error(format!(
                    "input is {:?}; accepted: float (as onnxruntime)",
                    input.datum_type
                ))
                .into());
        }
        Ok(tvec!(f32::fact(input.shape.iter().cloned())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = tensors::slice::<f32>(&inputs[0])?;
        if let Some(at) = x.iter().position(|v| v.is_nan()) {
            return Err(self.id.error(format!("input value {at} is NaN")).into());
        }
        let y = (x.iter())
            .map(|&v| if v > self.threshold { 1.0f32 } else { 0.0 })
            .collect();
        Ok(tvec!(tensors::tensor(inputs[0].shape(), y)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{float, node, run};
    use super::*;

    fn binarizer(threshold: f32) -> Binarizer {
        let node = node("Binarizer", vec![float("threshold", threshold)]);
        Binarizer::new(&Attributes::of("Binarizer", &node)).unwrap()
    }

    #[test]
    fn values_above_the_threshold_become_one_and_the_threshold_itself_zero() {
        let out = run(&binarizer(0.5), vec![tensor2(&[[0.5f32, 0.51, -3.0, 7.0]])]);
        assert_eq!(out.unwrap()[0], tensor2(&[[0.0f32, 1.0, 0.0, 1.0]]));
    }

    #[test]
    fn the_threshold_defaults_to_zero() {
        let node = node("Binarizer", vec![]);
        let binarizer = Binarizer::new(&Attributes::of("Binarizer", &node)).unwrap();
        let out = run(&binarizer, vec![tensor1(&[0.0f32, 1e-9, -1e-9])]);
        assert_eq!(out.unwrap()[0], tensor1(&[0.0f32, 1.0, 0.0]));
    }

    #[test]
    fn a_nan_input_fails_the_run_naming_its_position() {
        let err = run(&binarizer(0.0), vec![tensor1(&[1.0f32, f32::NAN])]).unwrap_err();
        assert_eq!(err.to_string(), "Binarizer `n`: input value 1 is NaN");
    }

    #[test]
    fn integer_input_is_refused_at_load() {
        let input = i64::fact([2usize, 3]);
        let err = binarizer(0.0).output_facts(&[&input]).unwrap_err();
        assert!(err.to_string().contains("accepted: float"), "{err}");
    }
}
