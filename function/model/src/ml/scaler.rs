//! `ai.onnx.ml` Scaler (ONNX Operators-ml.md, "ai.onnx.ml.Scaler"), as onnxruntime's
//! `core/providers/cpu/ml/scaler.cc` computes it: `y = (x - offset) * scale`, float out,
//! with one offset and scale per feature or a single one for all.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// A Scaler node.
#[derive(Debug)]
struct Scaler {
    id: NodeId,
    offset: Vec<f32>,
    scale: Vec<f32>,
}

/// Builds a Scaler: `scale` not empty, `offset` as long (onnxruntime refuses both).
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(Scaler::new(&Attributes::of("Scaler", node))?)
}

impl Scaler {
    fn new(attributes: &Attributes) -> TractResult<Scaler> {
        let id = attributes.id().clone();
        let scale = attributes.floats("scale")?.unwrap_or_default().to_vec();
        let offset = attributes.floats("offset")?.unwrap_or_default().to_vec();
        if scale.is_empty() {
            return Err(id
                .attribute("scale", "is empty; it needs one value, or one per feature")
                .into());
        }
        if offset.len() != scale.len() {
            return Err(id
                .attribute(
                    "offset",
                    format!(
                        "has {} values and scale {}; they must be as long",
                        offset.len(),
                        scale.len()
                    ),
                )
                .into());
        }
        Ok(Scaler { id, offset, scale })
    }

    /// Every value of `xs`, rows of `stride` features, scaled by `scaled`, which computes
    /// `(x - offset) * scale` in the input's own arithmetic. Row by row rather than by
    /// each value's index modulo `stride`: a division per value cost more than the
    /// arithmetic (see BENCHMARKS.md, "Models users bring").
    fn apply<T: Copy>(
        &self,
        xs: &[T],
        stride: usize,
        scaled: impl Fn(T, f32, f32) -> f32,
    ) -> Vec<f32> {
        if self.scale.len() != stride {
            let (offset, scale) = (self.offset[0], self.scale[0]);
            return xs.iter().map(|&x| scaled(x, offset, scale)).collect();
        }
        // `eval` checked: one offset and scale per feature, and `stride` > 0 features.
        let mut ys = Vec::with_capacity(xs.len());
        for row in xs.chunks_exact(stride) {
            let per_feature = row.iter().zip(&self.offset).zip(&self.scale);
            ys.extend(per_feature.map(|((&x, &o), &s)| scaled(x, o, s)));
        }
        ys
    }
}

impl Kernel for Scaler {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        if !tensors::is_numeric(input.datum_type) {
            return Err(self
                .id
                .error(format!(
                    "input is {:?}; accepted: float, double, int64, int32",
                    input.datum_type
                ))
                .into());
        }
        tensors::check_per_feature(&self.id, "scale", self.scale.len(), input)?;
        Ok(tvec!(f32::fact(input.shape.iter().cloned())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let shape = x.shape();
        let stride = tensors::feature_axis(shape.len()).map_or(0, |axis| shape[axis]);
        if self.scale.len() != 1 && self.scale.len() != stride {
            return Err(self
                .id
                .error(format!(
                    "rows have {stride} features and scale {} values; it needs 1 or {stride}",
                    self.scale.len()
                ))
                .into());
        }
        // onnxruntime computes in the input's type: float in float, double in double,
        // an integer converted to float by C++'s usual arithmetic conversions.
        let y = if x.datum_type() == f32::datum_type() {
            self.apply(tensors::slice::<f32>(x)?, stride, |x, o, s| (x - o) * s)
        } else if x.datum_type() == f64::datum_type() {
            let scaled = |x: f64, o: f32, s: f32| ((x - o as f64) * s as f64) as f32;
            self.apply(tensors::slice::<f64>(x)?, stride, scaled)
        } else {
            let ints = tensors::int64s(x)?;
            let scaled = |x: i64, o: f32, s: f32| (x as f32 - o) * s;
            self.apply(tensors::slice::<i64>(&ints)?, stride, scaled)
        };
        Ok(tvec!(tensors::tensor(shape, y)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{floats, node, run_1};
    use super::*;

    fn scaler(offset: Vec<f32>, scale: Vec<f32>) -> TractResult<Scaler> {
        let node = node(
            "Scaler",
            vec![floats("offset", offset), floats("scale", scale)],
        );
        Scaler::new(&Attributes::of("Scaler", &node))
    }

    #[test]
    fn each_feature_has_its_own_offset_and_scale() {
        let scaler = scaler(vec![1.0, -2.0], vec![0.5, 4.0]).unwrap();
        let x = tensor2(&[[3.0f32, 0.0], [1.0, -2.5]]);
        // (3 - 1) * 0.5, (0 + 2) * 4, (1 - 1) * 0.5, (-2.5 + 2) * 4
        assert_eq!(run_1(&scaler, x), tensor2(&[[1.0f32, 8.0], [0.0, -2.0]]));
    }

    #[test]
    fn a_single_offset_and_scale_apply_to_every_feature() {
        let scaler = scaler(vec![2.0], vec![10.0]).unwrap();
        let x = tensor2(&[[3.0f32, 2.5, -1.0]]);
        assert_eq!(run_1(&scaler, x), tensor2(&[[10.0f32, 5.0, -30.0]]));
    }

    #[test]
    fn integer_input_is_scaled_into_floats() {
        let scaler = scaler(vec![0.5], vec![2.0]).unwrap();
        let x = tensor2(&[[3i64, -1]]);
        assert_eq!(run_1(&scaler, x), tensor2(&[[5.0f32, -3.0]]));
    }

    #[test]
    fn offset_and_scale_of_different_lengths_are_refused() {
        let err = scaler(vec![1.0], vec![1.0, 2.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Scaler `n`: attribute offset has 1 values and scale 2; they must be as long"
        );
        let err = scaler(vec![], vec![]).unwrap_err();
        assert!(
            err.to_string().contains("attribute scale is empty"),
            "{err}"
        );
    }

    #[test]
    fn a_scale_per_feature_for_another_feature_count_is_refused_at_load() {
        let scaler = scaler(vec![0.0; 3], vec![1.0; 3]).unwrap();
        let input = f32::fact([TDim::from(4), TDim::from(2)]);
        let err = scaler.output_facts(&[&input]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Scaler `n`: attribute scale has 3 values for rows of 2 features; it needs 1 or 2"
        );
    }
}
