//! The values of an ONNX `TensorProto` as attributes carry them (the opset-5
//! TreeEnsemble's `nodes_splits`, LabelEncoder's `keys_tensor`...): typed fields or
//! little-endian `raw_data`, read without panicking on a malformed file. The one decoder
//! the ml operators and the tree-ensemble reader share.

#![forbid(unsafe_code)]

use tract_onnx::pb::{tensor_proto::DataType, TensorProto};

/// The values of a tensor attribute, by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// FLOAT.
    F32(Vec<f32>),
    /// INT64.
    I64(Vec<i64>),
    /// UINT8.
    U8(Vec<u8>),
    /// STRING, each valid UTF-8.
    Str(Vec<String>),
}

impl Values {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::U8(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }
}

/// The element type of `tensor` as ONNX spells it (`FLOAT`, `DOUBLE`...).
pub fn type_name(tensor: &TensorProto) -> &'static str {
    DataType::try_from(tensor.data_type).map_or("an unknown type", |d| d.as_str_name())
}

/// The values of `tensor`, of one of the element types [`Values`] has; otherwise why
/// not, as a phrase that can follow an attribute's name ("is DOUBLE, ...").
pub fn values(tensor: &TensorProto) -> Result<Values, String> {
    if tensor.data_location == Some(1) || !tensor.external_data.is_empty() {
        return Err("is stored outside the model file; embed it".into());
    }
    let raw = &tensor.raw_data[..];
    let values = match DataType::try_from(tensor.data_type) {
        Ok(DataType::Float) if raw.is_empty() => Values::F32(tensor.float_data.clone()),
        Ok(DataType::Float) => Values::F32(from_le(raw, f32::from_le_bytes)?),
        Ok(DataType::Int64) if raw.is_empty() => Values::I64(tensor.int64_data.clone()),
        Ok(DataType::Int64) => Values::I64(from_le(raw, i64::from_le_bytes)?),
        Ok(DataType::Uint8) if raw.is_empty() => Values::U8(
            (tensor.int32_data.iter())
                .map(|&v| u8::try_from(v).map_err(|_| format!("holds {v}, not a UINT8")))
                .collect::<Result<_, _>>()?,
        ),
        Ok(DataType::Uint8) => Values::U8(raw.to_vec()),
        Ok(DataType::String) => Values::Str(
            (tensor.string_data.iter())
                .map(|s| {
                    String::from_utf8(s.clone()).map_err(|_| "holds a string that is not UTF-8")
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => {
            return Err(format!(
                "is a {} tensor; accepted: FLOAT, INT64, UINT8, STRING",
                type_name(tensor)
            ))
        }
    };
    let declared = (tensor.dims.iter()).try_fold(1usize, |n, &d| {
        usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
    });
    match declared {
        Some(n) if n == values.len() => Ok(values),
        _ => Err(format!(
            "has {} values for dimensions {:?}",
            values.len(),
            tensor.dims
        )),
    }
}

/// Little-endian values of `N` bytes each.
fn from_le<T, const N: usize>(raw: &[u8], read: fn([u8; N]) -> T) -> Result<Vec<T>, String> {
    let chunks = raw.chunks_exact(N);
    if !chunks.remainder().is_empty() {
        return Err(format!(
            "has {} bytes of raw data, not a multiple of {N}",
            raw.len()
        ));
    }
    Ok(chunks
        .map(|chunk| {
            let mut bytes = [0; N];
            bytes.copy_from_slice(chunk);
            read(bytes)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data_type: DataType, dims: Vec<i64>) -> TensorProto {
        TensorProto {
            data_type: data_type as i32,
            dims,
            ..Default::default()
        }
    }

    #[test]
    fn raw_little_endian_floats_are_read_as_typed_ones() {
        let mut raw = tensor(DataType::Float, vec![2]);
        raw.raw_data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
        let mut typed = tensor(DataType::Float, vec![2]);
        typed.float_data = vec![1.5, -2.0];
        assert_eq!(values(&raw), Ok(Values::F32(vec![1.5, -2.0])));
        assert_eq!(values(&raw), values(&typed));
    }

    #[test]
    fn uint8_values_come_from_int32_data_or_raw_bytes() {
        let mut typed = tensor(DataType::Uint8, vec![3]);
        typed.int32_data = vec![0, 6, 255];
        assert_eq!(values(&typed), Ok(Values::U8(vec![0, 6, 255])));
        typed.int32_data[1] = 256;
        assert_eq!(values(&typed), Err("holds 256, not a UINT8".into()));
        let mut raw = tensor(DataType::Uint8, vec![3]);
        raw.raw_data = vec![0, 6, 255];
        assert_eq!(values(&raw), Ok(Values::U8(vec![0, 6, 255])));
    }

    #[test]
    fn a_count_that_does_not_match_the_dimensions_is_refused() {
        let mut t = tensor(DataType::Int64, vec![2, 2]);
        t.int64_data = vec![1, 2, 3];
        assert_eq!(values(&t), Err("has 3 values for dimensions [2, 2]".into()));
        let mut raw = tensor(DataType::Int64, vec![1]);
        raw.raw_data = vec![0; 7];
        assert!(values(&raw).unwrap_err().contains("not a multiple of 8"));
    }

    #[test]
    fn double_tensors_are_refused_naming_their_type() {
        let mut t = tensor(DataType::Double, vec![1]);
        t.double_data = vec![0.5];
        assert_eq!(
            values(&t),
            Err("is a DOUBLE tensor; accepted: FLOAT, INT64, UINT8, STRING".into())
        );
    }
}
