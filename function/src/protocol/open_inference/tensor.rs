//! Open Inference Protocol input tensors: the shape checked against the data and the
//! model, and the data (flat or nested JSON, or the raw little-endian bytes of Triton's
//! binary tensor extension) turned into f32 features (see [`super::datatype`]).

use serde_json::Value;

use super::datatype::Datatype;
use crate::error::ApiError;
use crate::protocol::rows::check_rows;
use model::{Batch, ModelInfo};

/// Where an input tensor's elements come from.
pub enum Elements<'a> {
    /// The JSON `data` field.
    Json(&'a Value),
    /// Raw bytes from the binary part of the body.
    Binary(&'a [u8]),
}

/// Decodes one input tensor into a batch of at most `max_rows` rows for the model
/// (413 beyond, checked before anything is allocated; 400 for the rest).
///
/// The shape must be `[N, F]` with `F` the model's feature count, or `[F]` for a single
/// row (a leniency: clients that send one example often drop the batch dimension).
pub fn decode(
    datatype: &str,
    shape: &[i64],
    elements: Elements<'_>,
    info: &ModelInfo,
    max_rows: usize,
) -> Result<Batch, ApiError> {
    let datatype = Datatype::parse(datatype).map_err(ApiError::BadRequest)?;
    let rows = rows(shape, info.n_features).map_err(ApiError::BadRequest)?;
    check_rows(rows, max_rows)?;
    collect(datatype, shape, rows, elements, info).map_err(ApiError::BadRequest)
}

/// The number of rows a shape describes, if it fits the model's input.
fn rows(shape: &[i64], width: usize) -> Result<usize, String> {
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
    Ok(rows)
}

/// The elements of a tensor of `rows` rows (within the limit) as a batch.
fn collect(
    datatype: Datatype,
    shape: &[i64],
    rows: usize,
    elements: Elements<'_>,
    info: &ModelInfo,
) -> Result<Batch, String> {
    let (width, missing) = (info.n_features, info.handles_missing);
    // Checked: the row limit is configurable and could be set absurdly high.
    let too_big = || format!("shape {shape:?} is too large");
    let count = rows.checked_mul(width).ok_or_else(too_big)?;
    let bytes_needed = count.checked_mul(datatype.width()).ok_or_else(too_big)?;
    let mut values = Vec::with_capacity(count);
    match elements {
        Elements::Binary(bytes) => {
            if bytes.len() != bytes_needed {
                return Err(format!(
                    "binary data has {} bytes, shape {shape:?} of {} needs {bytes_needed}",
                    bytes.len(),
                    datatype.name(),
                ));
            }
            for (i, element) in bytes.chunks_exact(datatype.width()).enumerate() {
                values.push(datatype.feature_from_le_bytes(
                    element,
                    &format!("data[{i}]"),
                    missing,
                )?);
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
                    values.push(datatype.feature_from_json(
                        item,
                        &format!("data[{i}]"),
                        missing,
                    )?);
                }
            } else {
                let dims = [rows, width];
                let dims = if shape.len() == 1 {
                    &dims[1..]
                } else {
                    &dims[..]
                };
                nested(data, dims, "data", (datatype, missing), &mut values)?;
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
    (datatype, missing): (Datatype, bool),
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let Some((&length, inner)) = dims.split_first() else {
        return datatype
            .feature_from_json(value, at, missing)
            .map(|v| out.push(v));
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
        nested(item, inner, &format!("{at}[{i}]"), (datatype, missing), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;
    use serde_json::json;

    fn info() -> ModelInfo {
        ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"])
    }

    fn json(datatype: &str, shape: &[i64], data: Value) -> Result<Batch, String> {
        decode(datatype, shape, Elements::Json(&data), &info(), 10).map_err(|e| e.to_string())
    }

    fn binary(
        datatype: &str,
        shape: &[i64],
        bytes: &[u8],
        info: &ModelInfo,
    ) -> Result<Batch, String> {
        decode(datatype, shape, Elements::Binary(bytes), info, 10).map_err(|e| e.to_string())
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
        let batch = binary("FP64", &[1, 2], &bytes, &info()).unwrap();
        assert_eq!(batch, Batch::new(vec![1.5, -2.0], 2));
        // 0x3e00 is 1.5 and 0xc000 is -2.0 in half precision.
        let half = [0x00, 0x3e, 0x00, 0xc0];
        let batch = binary("FP16", &[2], &half, &info()).unwrap();
        assert_eq!(batch, Batch::new(vec![1.5, -2.0], 2));
        assert!(binary("FP32", &[1, 2], &[0; 7], &info())
            .unwrap_err()
            .contains("7 bytes"));
    }

    #[test]
    fn nan_only_for_models_that_take_missing_values_and_infinity_never() {
        let nan = f32::NAN.to_le_bytes().repeat(2);
        let message = binary("FP32", &[1, 2], &nan, &info()).unwrap_err();
        assert!(message.contains("missing value"), "{message}");
        assert!(json("FP32", &[1, 2], json!([1, null]))
            .unwrap_err()
            .contains("missing value"));
        let takes_missing = ModelInfo {
            handles_missing: true,
            ..info()
        };
        assert!(binary("FP32", &[1, 2], &nan, &takes_missing).is_ok());
        let nulls = decode(
            "FP64",
            &[1, 2],
            Elements::Json(&json!([[null, 1]])),
            &takes_missing,
            1,
        );
        assert!(nulls.is_ok());
        let half_nan = [0x00, 0x7e, 0x00, 0x7e];
        assert!(binary("FP16", &[1, 2], &half_nan, &takes_missing).is_ok());
        let infinite = f64::INFINITY.to_le_bytes().repeat(2);
        let message = binary("FP64", &[1, 2], &infinite, &takes_missing).unwrap_err();
        assert!(message.contains("infinite"), "{message}");
        assert!(json("INT32", &[1, 2], json!([1, null])).is_err());
    }

    #[test]
    fn a_batch_over_the_row_limit_is_413_before_allocating() {
        let error = decode("FP32", &[1 << 40, 2], Elements::Binary(&[]), &info(), 10).unwrap_err();
        assert!(
            matches!(error, ApiError::TooManyRows { limit: 10, .. }),
            "{error}"
        );
        let huge = decode(
            "FP32",
            &[i64::MAX, 2],
            Elements::Binary(&[]),
            &info(),
            usize::MAX,
        );
        assert!(huge.unwrap_err().to_string().contains("too large"));
        assert!(json("FP32", &[10, 2], Value::from(vec![0; 20])).is_ok());
    }
}
