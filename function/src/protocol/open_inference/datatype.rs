//! The Open Inference Protocol's numeric tensor datatypes, and how each element (JSON or
//! little-endian bytes) becomes a value of a float input (any numeric datatype) or of an
//! int64 input (the integer datatypes). BYTES, for string inputs, is `super::strings`.

use std::fmt::Display;

use serde_json::Value;

use crate::protocol::rows::feature;

/// The datatypes a float input's values can be sent as, quoted in errors.
const NUMERIC: &str =
    "FP32, FP64, FP16, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32 or UINT64";
/// The datatypes an int64 input's values can be sent as, quoted in errors.
const INTEGER: &str = "INT64, INT8, INT16, INT32, UINT8, UINT16, UINT32 or UINT64";

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
    /// Parses a protocol datatype name for a numeric input; BOOL, BYTES and others are
    /// refused by name.
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
    pub(super) fn width(self) -> usize {
        use Datatype::*;
        match self {
            Int8 | Uint8 => 1,
            Fp16 | Int16 | Uint16 => 2,
            Fp32 | Int32 | Uint32 => 4,
            Fp64 | Int64 | Uint64 => 8,
        }
    }

    /// Checks that the datatype carries integers, as an int64 input needs.
    pub(super) fn integers(self) -> Result<Datatype, String> {
        match self.integer_range() {
            Some(_) => Ok(self),
            None => Err(format!(
                "datatype {} cannot carry an INT64 input's integers; use {INTEGER}",
                self.name()
            )),
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

    /// A JSON element of this datatype as a model feature (`null`, a missing value, only
    /// as a float and for a model that takes missing values).
    pub(super) fn feature_from_json(
        self,
        value: &Value,
        at: impl Display,
        missing: bool,
    ) -> Result<f32, String> {
        if value.is_null() && self.integer_range().is_none() {
            return feature(None, missing).map_err(|e| e.explain(&format!("`{at}` = null")));
        }
        let Value::Number(number) = value else {
            return Err(format!(
                "`{at}` is {}, not a number",
                crate::protocol::rows::kind(value)
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
        self.float_feature(float, at, number, missing)
    }

    /// A JSON element of this integer datatype as an int64 input's value.
    pub(super) fn integer_from_json(self, value: &Value, at: impl Display) -> Result<i64, String> {
        let (min, max) = self.integer_range().expect("checked by `integers`");
        let Value::Number(number) = value else {
            return Err(format!(
                "`{at}` is {}, not an integer",
                crate::protocol::rows::kind(value)
            ));
        };
        number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
            .filter(|v| (min..=max).contains(v))
            .and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| {
                format!(
                    "`{at}` = {number} is not a {} integer of INT64's range",
                    self.name()
                )
            })
    }

    /// An element of a little-endian buffer of this integer datatype as an int64
    /// input's value.
    pub(super) fn integer_from_le_bytes(
        self,
        bytes: &[u8],
        at: impl Display,
    ) -> Result<i64, String> {
        use Datatype::*;
        let mut b = [0; 8];
        b[..self.width()].copy_from_slice(bytes);
        Ok(match self {
            Int8 => i8::from_le_bytes([b[0]]).into(),
            Int16 => i16::from_le_bytes([b[0], b[1]]).into(),
            Int32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
            Int64 => i64::from_le_bytes(b),
            Uint8 => b[0].into(),
            Uint16 => u16::from_le_bytes([b[0], b[1]]).into(),
            Uint32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
            Uint64 => {
                let value = u64::from_le_bytes(b);
                i64::try_from(value)
                    .map_err(|_| format!("`{at}` = {value} is beyond INT64's range"))?
            }
            Fp16 | Fp32 | Fp64 => unreachable!("checked by `integers`"),
        })
    }

    /// Element `i` of a little-endian buffer of this datatype as a model feature.
    pub(super) fn feature_from_le_bytes(
        self,
        bytes: &[u8],
        at: impl Display,
        missing: bool,
    ) -> Result<f32, String> {
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
        self.float_feature(float, at, float, missing)
    }

    /// Checks that a float fits the model's f32 input (and FP16's own range); NaN is a
    /// missing value, accepted only when `missing` (the model takes missing values).
    /// `at` and `shown` (the value as sent) name it in an error, formatted only then.
    fn float_feature(
        self,
        value: f64,
        at: impl Display,
        shown: impl Display,
        missing: bool,
    ) -> Result<f32, String> {
        let what = || format!("`{at}` = {shown}");
        if self == Datatype::Fp16 && value.is_finite() && value.abs() > 65504.0 {
            return Err(format!("{} is outside the range of FP16", what()));
        }
        feature(Some(value), missing).map_err(|e| e.explain(&what()))
    }
}

/// IEEE 754 half precision to single precision (exact: every f16 is an f32).
pub(super) fn f16_to_f32(bits: u16) -> f32 {
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
