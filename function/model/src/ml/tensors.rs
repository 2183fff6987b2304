//! What the operators share in reading their inputs and building their outputs: typed
//! slices, number conversions as onnxruntime's C++ makes them, output tensors, and the
//! per-feature attribute rule of Scaler and Imputer.

use tract_onnx::prelude::tract_ndarray::{ArrayD, IxDyn};
use tract_onnx::tract_hir::internal::*;

use super::node::NodeId;
use crate::prediction::Labels;

/// The values of `tensor`, which holds `T`s.
pub fn slice<T: Datum>(tensor: &Tensor) -> TractResult<&[T]> {
    tensor.try_as_plain_ram()?.as_slice::<T>()
}

/// A tensor of `shape` holding `values`, row-major.
pub fn tensor<T: Datum>(shape: &[usize], values: Vec<T>) -> TractResult<Tensor> {
    Ok(ArrayD::from_shape_vec(IxDyn(shape), values)?.into())
}

/// `input` as int64 values: int64, int32 or tract's TDim (what its Cast to INT64 makes).
pub fn int64s(input: &Tensor) -> TractResult<std::borrow::Cow<'_, Tensor>> {
    input.cast_to::<i64>()
}

/// Whether `dt` is what [`int64s`] reads.
pub fn is_int64_like(dt: DatumType) -> bool {
    dt == i64::datum_type() || dt == i32::datum_type() || dt == TDim::datum_type()
}

/// The numeric element types the operators that cast their input to float accept.
pub fn is_numeric(dt: DatumType) -> bool {
    dt == f32::datum_type() || dt == f64::datum_type() || is_int64_like(dt)
}

/// Refuses, naming node `id`, an input of element type `dt` that is not one of the
/// numbers [`is_numeric`] accepts (the linear and SVM operators cast them to float).
pub fn require_numeric(id: &NodeId, dt: DatumType) -> TractResult<()> {
    if is_numeric(dt) {
        return Ok(());
    }
    Err(id
        .error(format!(
            "input is {dt:?}; accepted: float, double, int64, int32"
        ))
        .into())
}

/// The index of the first largest of `values`: ties go to the lowest index and a NaN
/// after the first value never wins, as in onnxruntime's classifiers' loops.
#[inline]
pub fn first_max<T: PartialOrd>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate().skip(1) {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// A classifier's two outputs: each row's label (`[rows]`, int64 or string) and the
/// scores (`[rows, width]`, row-major).
pub fn classifier_outputs(
    labels: Labels,
    scores: Vec<f32>,
    rows: usize,
    width: usize,
) -> TractResult<TVec<TValue>> {
    let labels = match labels {
        Labels::Int(ints) => tensor(&[rows], ints)?,
        Labels::Str(strings) => tensor(&[rows], strings)?,
    };
    Ok(tvec!(
        labels.into_tvalue(),
        tensor(&[rows, width], scores)?.into_tvalue()
    ))
}

/// `input` as float32 values, as C++'s `static_cast<float>` converts numbers.
pub fn float32s(input: &Tensor) -> TractResult<Vec<f32>> {
    let dt = input.datum_type();
    if dt == f32::datum_type() {
        return Ok(slice::<f32>(input)?.to_vec());
    }
    if dt == f64::datum_type() {
        return Ok(slice::<f64>(input)?.iter().map(|&x| x as f32).collect());
    }
    Ok(slice::<i64>(int64s(input)?.as_ref())?
        .iter()
        .map(|&x| x as f32)
        .collect())
}

/// The concrete size of `dim`, if it has one.
pub fn concrete(dim: &TDim) -> Option<usize> {
    dim.to_usize().ok()
}

/// The axis onnxruntime's Scaler and Imputer index their per-feature attributes by: the
/// only one of a vector, the second of anything else (`dims.size() == 1 ? dims[0] :
/// dims[1]`); `None` for a scalar.
pub fn feature_axis(rank: usize) -> Option<usize> {
    match rank {
        0 => None,
        1 => Some(0),
        _ => Some(1),
    }
}

/// Refuses, at load, `len` values of `attribute` for the rows of `input` unless there is
/// one value or one per feature (see [`feature_axis`]); a feature count not known until
/// a batch arrives is checked then.
pub fn check_per_feature(
    id: &NodeId,
    attribute: &str,
    len: usize,
    input: &TypedFact,
) -> TractResult<()> {
    let Some(axis) = feature_axis(input.rank()) else {
        return Err(id
            .error("input is a scalar; it must be [N, features] or [features]")
            .into());
    };
    match concrete(&input.shape[axis]) {
        Some(features) if len != 1 && len != features => Err(id
            .attribute(
                attribute,
                format!(
                    "has {len} values for rows of {features} features; it needs 1 or {features}"
                ),
            )
            .into()),
        _ => Ok(()),
    }
}
