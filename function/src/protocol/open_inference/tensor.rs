//! Open Inference Protocol input tensors: the shape checked against the data and the
//! model's input, and the data (flat or nested JSON, or the raw bytes of Triton's binary
//! tensor extension) turned into the input's values: numbers (see
//! [`super::datatype`]) or, for a string input, BYTES (see [`super::strings`]).

use serde_json::Value;

use super::datatype::Datatype;
use super::strings;
use crate::error::ApiError;
use crate::protocol::rows::check_rows;
use model::{Column, ElementType, InputInfo, Values};

/// Where an input tensor's elements come from.
#[derive(Debug, Clone, Copy)]
pub enum Elements<'a> {
    /// The JSON `data` field.
    Json(&'a Value),
    /// Raw bytes from the binary part of the body.
    Binary(&'a [u8]),
}

/// Decodes one input tensor into the rows of the model's `input`, at most `max_rows`
/// of them (413 beyond, checked before anything is allocated; 400 for the rest).
/// Returns the rows and the input's column.
///
/// The shape must be `[N, W]` with `W` the input's width, or `[N]` for an input of
/// width 1; `[W]` is one row (a leniency: clients that send one example often drop the
/// batch dimension).
pub fn decode(
    datatype: &str,
    shape: &[i64],
    elements: Elements<'_>,
    input: &InputInfo,
    max_rows: usize,
) -> Result<(usize, Column), ApiError> {
    let rows = rows(shape, input.width).map_err(ApiError::BadRequest)?;
    check_rows(rows, max_rows)?;
    let values = collect(datatype, shape, rows, elements, input).map_err(ApiError::BadRequest)?;
    Ok((rows, Column::new(values, input.width)))
}

/// The number of rows a shape describes, if it fits an input of `width` values per row.
fn rows(shape: &[i64], width: usize) -> Result<usize, String> {
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("shape {shape:?} has a negative dimension"))?;
    let rows = match shape[..] {
        [rows, values] if values == width => rows,
        [rows] if width == 1 => rows,
        [values] if values == width => 1,
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
    Ok(rows)
}

/// The elements of a tensor of `rows` rows (within the limit) as the input's values.
fn collect(
    datatype: &str,
    shape: &[i64],
    rows: usize,
    elements: Elements<'_>,
    input: &InputInfo,
) -> Result<Values, String> {
    // Checked: the row limit is configurable and could be set absurdly high.
    let count = rows
        .checked_mul(input.width)
        .ok_or_else(|| format!("shape {shape:?} is too large"))?;
    let dims = Dims { shape, rows, count };
    if input.element == ElementType::Str {
        if datatype != "BYTES" {
            return Err(format!(
                "datatype {datatype} cannot carry a string input's values; use BYTES"
            ));
        }
        return Ok(Values::Str(match elements {
            Elements::Json(data) => dims.json(data, |value, at| {
                strings::string_from_json(value, at, input.takes_missing)
            })?,
            Elements::Binary(binary) => strings::strings_from_binary(binary, count)?,
        }));
    }
    let datatype = Datatype::parse(datatype)?;
    let missing = input.takes_missing;
    Ok(match (input.element, elements) {
        (ElementType::I64, elements) => {
            let datatype = datatype.integers()?;
            Values::I64(match elements {
                Elements::Json(data) => {
                    dims.json(data, |value, at| datatype.integer_from_json(value, at))?
                }
                Elements::Binary(binary) => dims.binary(binary, datatype, |element, at| {
                    datatype.integer_from_le_bytes(element, at)
                })?,
            })
        }
        (_, Elements::Json(data)) => Values::F32(dims.json(data, |value, at| {
            datatype.feature_from_json(value, at, missing)
        })?),
        (_, Elements::Binary(binary)) => {
            Values::F32(dims.binary(binary, datatype, |element, at| {
                datatype.feature_from_le_bytes(element, at, missing)
            })?)
        }
    })
}

/// Where an element is, for an error message: `data[5]`, or a nested path such as
/// `data[1][2]`. Written out only when a message needs it: formatting it for every
/// element cost more than converting the element (BENCHMARKS.md, gRPC section).
#[derive(Debug, Clone, Copy)]
pub(super) enum At<'a> {
    /// Element `i` of flat data.
    Flat(usize),
    /// A path in nested data.
    Nested(&'a str),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Flat(i) => write!(f, "data[{i}]"),
            At::Nested(path) => f.write_str(path),
        }
    }
}

/// A tensor's shape as sent, and the rows and elements it holds for the input.
struct Dims<'s> {
    shape: &'s [i64],
    rows: usize,
    count: usize,
}

impl Dims<'_> {
    /// The elements of JSON `data`, flat or nested exactly as the shape, each converted
    /// by `convert` (given the element and where it is, e.g. `data[1][2]`).
    fn json<T>(
        &self,
        data: &Value,
        mut convert: impl FnMut(&Value, At<'_>) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let Value::Array(items) = data else {
            return Err("`data` must be an array, flat or nested as the shape".into());
        };
        // No more than the data can hold: a shape may claim more rows than are sent.
        let width = self.count / self.rows;
        let mut out = Vec::with_capacity(self.count.min(items.len().saturating_mul(width)));
        if items.iter().all(|item| !item.is_array()) {
            if items.len() != self.count {
                return Err(format!(
                    "`data` has {} values, shape {:?} needs {}",
                    items.len(),
                    self.shape,
                    self.count
                ));
            }
            for (i, item) in items.iter().enumerate() {
                out.push(convert(item, At::Flat(i))?);
            }
        } else {
            // [N, W] nests rows of values; [n] (one row of W, or N rows of 1) is flat.
            let (two, one) = ([self.rows, width], [self.count]);
            let dims = if self.shape.len() == 2 {
                &two[..]
            } else {
                &one[..]
            };
            nested(data, dims, "data", &mut convert, &mut out)?;
        }
        Ok(out)
    }

    /// The elements of a little-endian buffer of a numeric `datatype`, each converted by
    /// `convert` (given the element's bytes and where it is, e.g. `data[5]`).
    fn binary<T>(
        &self,
        bytes: &[u8],
        datatype: Datatype,
        convert: impl Fn(&[u8], At<'_>) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let needed = (self.count.checked_mul(datatype.width()))
            .ok_or_else(|| format!("shape {:?} is too large", self.shape))?;
        if bytes.len() != needed {
            return Err(format!(
                "binary data has {} bytes, shape {:?} of {} needs {needed}",
                bytes.len(),
                self.shape,
                datatype.name(),
            ));
        }
        let mut out = Vec::with_capacity(self.count);
        for (i, element) in bytes.chunks_exact(datatype.width()).enumerate() {
            out.push(convert(element, At::Flat(i))?);
        }
        Ok(out)
    }
}

/// Collects nested `data` whose nesting must be exactly `dims`.
fn nested<T>(
    value: &Value,
    dims: &[usize],
    at: &str,
    convert: &mut impl FnMut(&Value, At<'_>) -> Result<T, String>,
    out: &mut Vec<T>,
) -> Result<(), String> {
    let Some((&length, inner)) = dims.split_first() else {
        return convert(value, At::Nested(at)).map(|v| out.push(v));
    };
    let Value::Array(items) = value else {
        return Err(format!(
            "`{at}` is {}, not an array of {length}",
            crate::protocol::rows::kind(value)
        ));
    };
    if items.len() != length {
        return Err(format!(
            "`{at}` has {} items, the shape needs {length} there",
            items.len()
        ));
    }
    for (i, item) in items.iter().enumerate() {
        nested(item, inner, &format!("{at}[{i}]"), convert, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn float_input(takes_missing: bool) -> InputInfo {
        InputInfo::float("input", 2, takes_missing)
    }

    /// An input of `element` values, `width` per row.
    fn input_of(element: ElementType, width: usize) -> InputInfo {
        InputInfo::new("x", element, width, false)
    }

    fn decoded(
        datatype: &str,
        shape: &[i64],
        elements: Elements<'_>,
        input: &InputInfo,
    ) -> Result<Values, String> {
        decode(datatype, shape, elements, input, 10)
            .map(|(_, column)| column.values().clone())
            .map_err(|e| e.to_string())
    }

    fn json(datatype: &str, shape: &[i64], data: Value) -> Result<Values, String> {
        decoded(datatype, shape, Elements::Json(&data), &float_input(false))
    }

    fn binary(
        datatype: &str,
        shape: &[i64],
        bytes: &[u8],
        input: &InputInfo,
    ) -> Result<Values, String> {
        decoded(datatype, shape, Elements::Binary(bytes), input)
    }

    #[test]
    fn flat_and_nested_data_give_the_same_values() {
        let flat = json("FP32", &[2, 2], json!([1.5, 2, 3, 4])).unwrap();
        let nested = json("FP64", &[2, 2], json!([[1.5, 2], [3, 4]])).unwrap();
        assert_eq!(flat, Values::F32(vec![1.5, 2.0, 3.0, 4.0]));
        assert_eq!(flat, nested);
        let (rows, _) = decode(
            "INT64",
            &[2],
            Elements::Json(&json!([7, 8])),
            &float_input(false),
            10,
        )
        .unwrap();
        assert_eq!(rows, 1, "[W] is one row");
    }

    #[test]
    fn an_input_of_width_one_takes_a_shape_of_rows_only() {
        let input = input_of(ElementType::F32, 1);
        let data = json!([1, 2, 3]);
        let (rows, column) = decode("FP32", &[3], Elements::Json(&data), &input, 10).unwrap();
        assert_eq!(
            (rows, column.values()),
            (3, &Values::F32(vec![1.0, 2.0, 3.0]))
        );
        let nested = json!([[1], [2], [3]]);
        let (rows, _) = decode("FP32", &[3, 1], Elements::Json(&nested), &input, 10).unwrap();
        assert_eq!(rows, 3);
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
    fn an_int64_input_takes_integer_datatypes_only() {
        let input = input_of(ElementType::I64, 2);
        let data = json!([[3, -4]]);
        let values = decoded("INT32", &[1, 2], Elements::Json(&data), &input).unwrap();
        assert_eq!(values, Values::I64(vec![3, -4]));
        let bytes: Vec<u8> = [7u64, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        let values = binary("UINT64", &[1, 2], &bytes, &input).unwrap();
        assert_eq!(values, Values::I64(vec![7, 9]));
        let huge = u64::MAX.to_le_bytes().repeat(2);
        assert!(binary("UINT64", &[1, 2], &huge, &input)
            .unwrap_err()
            .contains("beyond INT64"));
        let message = decoded("FP32", &[1, 2], Elements::Json(&data), &input).unwrap_err();
        assert!(
            message.contains("FP32 cannot carry an INT64 input's integers"),
            "{message}"
        );
    }

    #[test]
    fn a_string_input_takes_bytes_as_json_strings_or_binary() {
        let input = input_of(ElementType::Str, 1);
        let data = json!(["Dream", "Biscoe"]);
        let values = decoded("BYTES", &[2, 1], Elements::Json(&data), &input).unwrap();
        assert_eq!(values, Values::Str(vec!["Dream".into(), "Biscoe".into()]));
        let bytes = [5, 0, 0, 0, b'D', b'r', b'e', b'a', b'm'];
        let values = binary("BYTES", &[1], &bytes, &input).unwrap();
        assert_eq!(values, Values::Str(vec!["Dream".into()]));
        let message = decoded("FP32", &[1], Elements::Json(&json!([1])), &input).unwrap_err();
        assert!(message.contains("FP32 cannot carry a string input's values; use BYTES"));
        let message = decoded("BYTES", &[1], Elements::Json(&json!([1])), &input).unwrap_err();
        assert!(
            message.contains("`data[0]` is 1, not a string"),
            "{message}"
        );
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
    fn refuses_bool_bytes_and_unknown_datatypes_for_numbers_by_name() {
        let message = json("BOOL", &[1, 2], json!([true, false])).unwrap_err();
        assert!(message.contains("datatype BOOL cannot carry"), "{message}");
        let message = json("BYTES", &[1, 2], json!(["1", "2"])).unwrap_err();
        assert!(message.contains("datatype BYTES cannot carry"), "{message}");
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
        let values = binary("FP64", &[1, 2], &bytes, &float_input(false)).unwrap();
        assert_eq!(values, Values::F32(vec![1.5, -2.0]));
        // 0x3e00 is 1.5 and 0xc000 is -2.0 in half precision.
        let half = [0x00, 0x3e, 0x00, 0xc0];
        let values = binary("FP16", &[2], &half, &float_input(false)).unwrap();
        assert_eq!(values, Values::F32(vec![1.5, -2.0]));
        assert!(binary("FP32", &[1, 2], &[0; 7], &float_input(false))
            .unwrap_err()
            .contains("7 bytes"));
    }

    #[test]
    fn nan_only_for_inputs_that_take_missing_values_and_infinity_never() {
        let nan = f32::NAN.to_le_bytes().repeat(2);
        let message = binary("FP32", &[1, 2], &nan, &float_input(false)).unwrap_err();
        assert!(message.contains("missing value"), "{message}");
        assert!(json("FP32", &[1, 2], json!([1, null]))
            .unwrap_err()
            .contains("missing value"));
        let takes_missing = float_input(true);
        assert!(binary("FP32", &[1, 2], &nan, &takes_missing).is_ok());
        let nulls = json!([[null, 1]]);
        assert!(decoded("FP64", &[1, 2], Elements::Json(&nulls), &takes_missing).is_ok());
        let half_nan = [0x00, 0x7e, 0x00, 0x7e];
        assert!(binary("FP16", &[1, 2], &half_nan, &takes_missing).is_ok());
        let infinite = f64::INFINITY.to_le_bytes().repeat(2);
        let message = binary("FP64", &[1, 2], &infinite, &takes_missing).unwrap_err();
        assert!(message.contains("infinite"), "{message}");
        assert!(json("INT32", &[1, 2], json!([1, null])).is_err());
    }

    #[test]
    fn a_batch_over_the_row_limit_is_413_before_allocating() {
        let input = float_input(false);
        let error = decode("FP32", &[1 << 40, 2], Elements::Binary(&[]), &input, 10).unwrap_err();
        assert!(
            matches!(error, ApiError::TooManyRows { limit: 10, .. }),
            "{error}"
        );
        let huge = decode(
            "FP32",
            &[i64::MAX, 2],
            Elements::Binary(&[]),
            &input,
            usize::MAX,
        );
        assert!(huge.unwrap_err().to_string().contains("too large"));
        let claimed = decode(
            "FP32",
            &[i64::MAX, 2],
            Elements::Json(&json!([])),
            &input,
            usize::MAX,
        );
        assert!(claimed.is_err(), "a huge claimed shape with no data");
        assert!(json("FP32", &[10, 2], Value::from(vec![0; 20])).is_ok());
    }
}
