//! Open Inference Protocol input tensors: the numeric datatypes, the shape checked
//! against the data and the model, and the data (flat or nested JSON, or the raw
//! little-endian bytes of Triton's binary tensor extension) turned into f32 features.

use serde_json::Value;

use crate::model::{Batch, ModelInfo};

/// The datatypes the model's f32 features can be sent as, quoted in errors.
const NUMERIC: &str =
    "FP32, FP64, FP16, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32 or UINT64";

/// A numeric tensor datatype of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    /// IEEE half precision.
    Fp16,
    /// IEEE single precision: the model's own input type.
    Fp32,
    /// IEEE double precision; values must still fit an f32.
    Fp64,
    /// Signed integers.
    Int8,
    /// Signed integers.
    Int16,
    /// Signed integers.
    Int32,
    /// Signed integers.
    Int64,
    /// Unsigned integers.
    Uint8,
    /// Unsigned integers.
    Uint16,
    /// Unsigned integers.
    Uint32,
    /// Unsigned integers.
    Uint64,
}

impl Datatype {
    /// Parses a protocol datatype name; BOOL, BYTES and others are refused by name.
    pub fn parse(name: &str) -> Result<Datatype, String> {
        use Datatype::*;
        Ok(match name {
            "FP16" => Fp16,
            "FP32" => Fp32,
            "FP64" => Fp64,
            "INT8" => Int8,
            "INT16" => Int16,
            "INT32" => Int32,
            "INT64" => Int64,
            "UINT8" => Uint8,
            "UINT16" => Uint16,
            "UINT32" => Uint32,
            "UINT64" => Uint64,
            "BOOL" | "BYTES" | "BF16" => {
                return Err(format!(
                    "datatype {name} cannot carry the model's numeric features; use {NUMERIC}"
                ))
            }
            other => return Err(format!("unknown datatype {other:?}; use {NUMERIC}")),
        })
    }

    /// The protocol's name for the datatype.
    pub fn name(self) -> &'static str {
        use Datatype::*;
        match self {
            Fp16 => "FP16",
            Fp32 => "FP32",
            Fp64 => "FP64",
            Int8 => "INT8",
            Int16 => "INT16",
            Int32 => "INT32",
            Int64 => "INT64",
            Uint8 => "UINT8",
            Uint16 => "UINT16",
            Uint32 => "UINT32",
            Uint64 => "UINT64",
        }
    }

    /// Bytes per element in the binary tensor extension.
    fn width(self) -> usize {
        use Datatype::*;
        match self {
            Int8 | Uint8 => 1,
            Fp16 | Int16 | Uint16 => 2,
            Fp32 | Int32 | Uint32 => 4,
            Fp64 | Int64 | Uint64 => 8,
        }
    }

    /// The inclusive range of an integer type.
    fn integer_range(self) -> Option<(i128, i128)> {
        use Datatype::*;
        let range = |min: i128, max: i128| Some((min, max));
        match self {
            Int8 => range(i8::MIN.into(), i8::MAX.into()),
            Int16 => range(i16::MIN.into(), i16::MAX.into()),
            Int32 => range(i32::MIN.into(), i32::MAX.into()),
            Int64 => range(i64::MIN.into(), i64::MAX.into()),
            Uint8 => range(0, u8::MAX.into()),
            Uint16 => range(0, u16::MAX.into()),
            Uint32 => range(0, u32::MAX.into()),
            Uint64 => range(0, u64::MAX.into()),
            Fp16 | Fp32 | Fp64 => None,
        }
    }

    /// A JSON element of this datatype as a model feature.
    fn feature_from_json(self, value: &Value, at: &str) -> Result<f32, String> {
        let Value::Number(number) = value else {
            return Err(format!(
                "`{at}` is {}, not a number",
                super::super::predict::kind(value)
            ));
        };
        if let Some((min, max)) = self.integer_range() {
            let integer = number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from))
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| format!("`{at}` = {number} is not a {} integer", self.name()))?;
            return Ok(integer as f32);
        }
        let float = number
            .as_f64()
            .expect("a JSON number without arbitrary precision");
        self.float_feature(float, &format!("`{at}` = {number}"))
    }

    /// Element `i` of a little-endian buffer of this datatype as a model feature.
    fn feature_from_le_bytes(self, bytes: &[u8], at: &str) -> Result<f32, String> {
        use Datatype::*;
        let array = |n: usize| -> [u8; 8] {
            let mut padded = [0; 8];
            padded[..n].copy_from_slice(bytes);
            padded
        };
        let b = array(self.width());
        let float = match self {
            Fp16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])).into(),
            Fp32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
            Fp64 => f64::from_le_bytes(b),
            Int8 => i8::from_le_bytes([b[0]]).into(),
            Int16 => i16::from_le_bytes([b[0], b[1]]).into(),
            Int32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
            Int64 => return Ok(i64::from_le_bytes(b) as f32),
            Uint8 => b[0].into(),
            Uint16 => u16::from_le_bytes([b[0], b[1]]).into(),
            Uint32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
            Uint64 => return Ok(u64::from_le_bytes(b) as f32),
        };
        self.float_feature(float, &format!("`{at}` = {float}"))
    }

    /// Checks that a float fits the model's f32 input (and FP16's own range).
    fn float_feature(self, value: f64, what: &str) -> Result<f32, String> {
        if !value.is_finite() {
            return Err(format!("{what} is not a finite number"));
        }
        if self == Datatype::Fp16 && value.abs() > 65504.0 {
            return Err(format!("{what} is outside the range of FP16"));
        }
        let single = value as f32;
        if !single.is_finite() {
            return Err(format!(
                "{what} is outside the range of the model's 32-bit float input"
            ));
        }
        Ok(single)
    }
}

/// IEEE 754 half precision to single precision (exact: every f16 is an f32).
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f32::from(bits & 0x3ff);
    let magnitude = match exponent {
        0 => fraction * 2f32.powi(-24),
        31 if fraction == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + fraction / 1024.0) * 2f32.powi(e - 15),
    };
    sign * magnitude
}

/// Where an input tensor's elements come from.
pub enum Elements<'a> {
    /// The JSON `data` field.
    Json(&'a Value),
    /// Raw bytes from the binary part of the body.
    Binary(&'a [u8]),
}

/// Decodes one input tensor into a batch of rows for the model.
///
/// The shape must be `[N, F]` with `F` the model's feature count, or `[F]` for a single
/// row (a leniency: clients that send one example often drop the batch dimension).
pub fn decode(
    datatype: &str,
    shape: &[i64],
    elements: Elements<'_>,
    info: &ModelInfo,
) -> Result<Batch, String> {
    let datatype = Datatype::parse(datatype)?;
    let width = info.n_features;
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("shape {shape:?} has a negative dimension"))?;
    let rows = match shape[..] {
        [rows, features] if features == width => rows,
        [features] if features == width => 1,
        _ => {
            return Err(format!(
                "shape {shape:?} does not fit the model's input [-1, {width}]; \
                 send [N, {width}] (or [{width}] for one row)"
            ))
        }
    };
    if rows == 0 {
        return Err(format!(
            "shape {shape:?} is an empty batch; send at least one row"
        ));
    }
    let count = rows * width;
    let mut values = Vec::with_capacity(count);
    match elements {
        Elements::Binary(bytes) => {
            if bytes.len() != count * datatype.width() {
                return Err(format!(
                    "binary data has {} bytes, shape {shape:?} of {} needs {}",
                    bytes.len(),
                    datatype.name(),
                    count * datatype.width()
                ));
            }
            for (i, element) in bytes.chunks_exact(datatype.width()).enumerate() {
                values.push(datatype.feature_from_le_bytes(element, &format!("data[{i}]"))?);
            }
        }
        Elements::Json(data) => {
            let Value::Array(items) = data else {
                return Err("`data` must be an array, flat or nested as the shape".into());
            };
            if items.iter().all(|item| !item.is_array()) {
                if items.len() != count {
                    return Err(format!(
                        "`data` has {} values, shape {shape:?} needs {count}",
                        items.len()
                    ));
                }
                for (i, item) in items.iter().enumerate() {
                    values.push(datatype.feature_from_json(item, &format!("data[{i}]"))?);
                }
            } else {
                nested(data, &shape, "data", datatype, &mut values)?;
            }
        }
    }
    Ok(Batch::new(values, width))
}

/// Collects nested `data` whose nesting must be exactly the shape.
fn nested(
    value: &Value,
    dims: &[usize],
    at: &str,
    datatype: Datatype,
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let Some((&length, inner)) = dims.split_first() else {
        return datatype.feature_from_json(value, at).map(|v| out.push(v));
    };
    let Value::Array(items) = value else {
        return Err(format!(
            "`{at}` is {}, not an array of {length}",
            super::super::predict::kind(value)
        ));
    };
    if items.len() != length {
        return Err(format!(
            "`{at}` has {} items, the shape needs {length} there",
            items.len()
        ));
    }
    for (i, item) in items.iter().enumerate() {
        nested(item, inner, &format!("{at}[{i}]"), datatype, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use serde_json::json;

    fn info() -> ModelInfo {
        ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"])
    }

    fn json(datatype: &str, shape: &[i64], data: Value) -> Result<Batch, String> {
        decode(datatype, shape, Elements::Json(&data), &info())
    }

    #[test]
    fn flat_and_nested_data_give_the_same_batch() {
        let flat = json("FP32", &[2, 2], json!([1.5, 2, 3, 4])).unwrap();
        let nested = json("FP64", &[2, 2], json!([[1.5, 2], [3, 4]])).unwrap();
        assert_eq!(flat, Batch::new(vec![1.5, 2.0, 3.0, 4.0], 2));
        assert_eq!(flat, nested);
        assert_eq!(json("INT64", &[2], json!([7, 8])).unwrap().rows(), 1);
    }

    #[test]
    fn integer_types_take_integers_in_their_range() {
        assert!(json("UINT8", &[1, 2], json!([0, 255])).is_ok());
        let message = json("UINT8", &[1, 2], json!([0, 256])).unwrap_err();
        assert!(message.contains("256 is not a UINT8 integer"), "{message}");
        assert!(json("INT8", &[1, 2], json!([-1, 1.5])).is_err());
        assert!(json("UINT64", &[1, 2], json!([-1, 0])).is_err());
    }

    #[test]
    fn shape_must_match_the_data_and_the_model() {
        assert!(json("FP32", &[2, 2], json!([1, 2, 3]))
            .unwrap_err()
            .contains("`data` has 3 values, shape [2, 2] needs 4"));
        assert!(json("FP32", &[1, 3], json!([1, 2, 3]))
            .unwrap_err()
            .contains("does not fit the model's input [-1, 2]"));
        assert!(json("FP32", &[2, 2], json!([[1, 2], [3]]))
            .unwrap_err()
            .contains("`data[1]` has 1 items"));
        assert!(json("FP32", &[0, 2], json!([]))
            .unwrap_err()
            .contains("empty"));
        assert!(json("FP32", &[-1, 2], json!([1, 2]))
            .unwrap_err()
            .contains("negative"));
    }

    #[test]
    fn refuses_bool_bytes_and_unknown_datatypes_by_name() {
        let message = json("BOOL", &[1, 2], json!([true, false])).unwrap_err();
        assert!(message.contains("datatype BOOL cannot carry"), "{message}");
        assert!(json("FP8", &[1, 2], json!([1, 2]))
            .unwrap_err()
            .contains("unknown datatype \"FP8\""));
        assert!(json("FP32", &[1, 2], json!([1, "2"]))
            .unwrap_err()
            .contains("`data[1]` is the string \"2\", not a number"));
    }

    #[test]
    fn floats_must_fit_the_model_input() {
        assert!(json("FP64", &[1, 2], json!([1e300, 0]))
            .unwrap_err()
            .contains("32-bit float"));
        assert!(json("FP16", &[1, 2], json!([70000, 0]))
            .unwrap_err()
            .contains("FP16"));
    }

    #[test]
    fn binary_data_is_little_endian_of_the_datatype() {
        let bytes: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let batch = decode("FP64", &[1, 2], Elements::Binary(&bytes), &info()).unwrap();
        assert_eq!(batch, Batch::new(vec![1.5, -2.0], 2));
        // 0x3e00 is 1.5 and 0xc000 is -2.0 in half precision.
        let half = [0x00, 0x3e, 0x00, 0xc0];
        let batch = decode("FP16", &[2], Elements::Binary(&half), &info()).unwrap();
        assert_eq!(batch, Batch::new(vec![1.5, -2.0], 2));
        let nan = f32::NAN.to_le_bytes().repeat(2);
        assert!(decode("FP32", &[1, 2], Elements::Binary(&nan), &info()).is_err());
        assert!(decode("FP32", &[1, 2], Elements::Binary(&[0; 7]), &info())
            .unwrap_err()
            .contains("7 bytes"));
    }
}
