//! `ai.onnx.ml` ArrayFeatureExtractor (ONNX Operators-ml.md,
//! "ai.onnx.ml.ArrayFeatureExtractor"), as onnxruntime's
//! `core/providers/cpu/ml/array_feature_extractor.cc` computes it: the values at the
//! given indices of the last axis, of any element type (strings included). Replaces
//! tract's own, a Gather on the last axis, whose output shape differs from
//! onnxruntime's for a vector input or indices that are not a vector, and which takes
//! negative indices onnxruntime refuses.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// An ArrayFeatureExtractor node (it has no attributes).
#[derive(Debug)]
struct ArrayFeatureExtractor {
    id: NodeId,
}

/// Builds an ArrayFeatureExtractor.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let attributes = Attributes::of("ArrayFeatureExtractor", node);
    KernelOp::built(ArrayFeatureExtractor {
        id: attributes.id().clone(),
    })
}

impl ArrayFeatureExtractor {
    /// `dt`, if an element type it selects from: float, double, int64 (or tract's TDim,
    /// what its Cast to INT64 makes), int32 or string.
    fn check_type(&self, dt: DatumType) -> TractResult<DatumType> {
        let accepted = [
            DatumType::F32,
            DatumType::F64,
            DatumType::I64,
            DatumType::I32,
            DatumType::TDim,
        ];
        if accepted.contains(&dt) || dt == String::datum_type() {
            return Ok(dt);
        }
        Err(self
            .id
            .error(format!(
                "input is {dt:?}; accepted: float, double, int64, int32, string"
            ))
            .into())
    }

    /// Refuses no index, and an index outside the last axis of `width` (when known).
    fn check_indices(&self, indices: &[i64], width: Option<usize>) -> TractResult<()> {
        if indices.is_empty() {
            return Err(self.id.error("there are no indices to select").into());
        }
        let outside = |&i: &i64| i < 0 || width.is_some_and(|w| i as u64 >= w as u64);
        if let Some(i) = indices.iter().copied().find(|i| outside(i)) {
            let range = width.map_or("0..".to_string(), |w| format!("0..{w}"));
            return Err(self
                .id
                .error(format!("index {i} is outside the last axis, {range}"))
                .into());
        }
        Ok(())
    }
}

/// The values of `x` at `indices` of each row of its last axis (`width` values).
fn gather<T: Datum>(x: &Tensor, width: usize, indices: &[usize]) -> TractResult<Vec<T>> {
    let values = tensors::slice::<T>(x)?;
    let rows = values.len().checked_div(width).unwrap_or(0);
    let mut out = Vec::with_capacity(rows * indices.len());
    for row in values.chunks_exact(width.max(1)).take(rows) {
        out.extend(indices.iter().map(|&i| row[i].clone()));
    }
    Ok(out)
}

impl Kernel for ArrayFeatureExtractor {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn n_inputs(&self) -> usize {
        2
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (x, indices) = (inputs[0], inputs[1]);
        self.check_type(x.datum_type)?;
        if x.rank() == 0 {
            return Err(self
                .id
                .error("input is a scalar; it needs an axis to select from")
                .into());
        }
        if !tensors::is_int64_like(indices.datum_type) {
            return Err(self
                .id
                .error(format!(
                    "indices are {:?}; they must be int64",
                    indices.datum_type
                ))
                .into());
        }
        let width = tensors::concrete(&x.shape[x.rank() - 1]);
        if let Some(konst) = &indices.konst {
            self.check_indices(
                tensors::slice::<i64>(tensors::int64s(konst)?.as_ref())?,
                width,
            )?;
        }
        let n_indices = indices.shape.iter().product::<TDim>();
        let mut shape: TVec<TDim> = x.shape.to_tvec();
        if x.rank() == 1 {
            // onnxruntime's "special case" for a vector: one row.
            shape.insert(0, 1.into());
        }
        let last = shape.len() - 1;
        shape[last] = n_indices;
        Ok(tvec!(x.datum_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, indices) = (&inputs[0], &inputs[1]);
        let Some(&width) = x.shape().last() else {
            return Err(self.id.error("input is a scalar").into());
        };
        let indices = tensors::int64s(indices)?;
        let indices = tensors::slice::<i64>(&indices)?;
        self.check_indices(indices, Some(width))?;
        let at: Vec<usize> = indices.iter().map(|&i| i as usize).collect();
        let mut shape = x.shape().to_vec();
        if shape.len() == 1 {
            shape.insert(0, 1);
        }
        let last = shape.len() - 1;
        shape[last] = at.len();
        let dt = self.check_type(x.datum_type())?;
        let out = match dt {
            DatumType::F32 => tensors::tensor(&shape, gather::<f32>(x, width, &at)?)?,
            DatumType::F64 => tensors::tensor(&shape, gather::<f64>(x, width, &at)?)?,
            DatumType::I64 => tensors::tensor(&shape, gather::<i64>(x, width, &at)?)?,
            DatumType::I32 => tensors::tensor(&shape, gather::<i32>(x, width, &at)?)?,
            DatumType::TDim => tensors::tensor(&shape, gather::<TDim>(x, width, &at)?)?,
            _ => tensors::tensor(&shape, gather::<String>(x, width, &at)?)?,
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{node, run};
    use super::*;

    fn extractor() -> ArrayFeatureExtractor {
        let node = node("ArrayFeatureExtractor", vec![]);
        ArrayFeatureExtractor {
            id: NodeId::of("ArrayFeatureExtractor", &node),
        }
    }

    #[test]
    fn selects_the_indices_of_the_last_axis_of_each_row() {
        // ONNX's own example: x = arange(12) as [3, 4], y = [0, 1].
        let x = tensor2(&[[0.0f32, 1., 2., 3.], [4., 5., 6., 7.], [8., 9., 10., 11.]]);
        let out = run(&extractor(), vec![x, tensor1(&[0i64, 1])]).unwrap();
        assert_eq!(out[0], tensor2(&[[0.0f32, 1.], [4., 5.], [8., 9.]]));
    }

    #[test]
    fn selects_strings_in_the_order_asked_repeats_included() {
        let x = tensor2(&[["a".to_string(), "b".into(), "c".into()]]);
        let out = run(&extractor(), vec![x, tensor1(&[2i64, 0, 2])]).unwrap();
        let expected = tensor2(&[["c".to_string(), "a".into(), "c".into()]]);
        assert_eq!(out[0], expected);
    }

    #[test]
    fn a_vector_input_gives_one_row() {
        let out = run(&extractor(), vec![tensor1(&[5i64, 6, 7]), tensor1(&[1i64])]).unwrap();
        assert_eq!(out[0], tensor2(&[[6i64]]));
    }

    #[test]
    fn an_index_outside_the_row_or_negative_is_refused() {
        let x = tensor2(&[[1.0f32, 2.0]]);
        let err = run(&extractor(), vec![x.clone(), tensor1(&[2i64])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ArrayFeatureExtractor `n`: index 2 is outside the last axis, 0..2"
        );
        let err = run(&extractor(), vec![x, tensor1(&[-1i64])]).unwrap_err();
        assert!(err.to_string().contains("index -1"), "{err}");
    }

    #[test]
    fn constant_indices_outside_the_row_are_refused_at_load() {
        let x = f32::fact([TDim::from(3), TDim::from(4)]);
        let indices = TypedFact::try_from(tensor1(&[0i64, 4])).unwrap();
        let err = extractor().output_facts(&[&x, &indices]).unwrap_err();
        assert!(
            err.to_string()
                .contains("index 4 is outside the last axis, 0..4"),
            "{err}"
        );
    }
}
