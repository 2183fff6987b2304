//! Rows as the JSON protocols send them: records (`{"column": value, ...}`, decoded by
//! [`super::records`]) or, for a model of one numeric input, arrays of its values in
//! order; every value checked to be of its input's type and to fit it (or to be a
//! missing value the input takes), and the batch within the row limit.

use serde_json::Value;

use model::{Batch, Column, ElementType, InputInfo, ModelInfo, Values};

use super::records;
use crate::error::ApiError;

/// 413 when a batch of `rows` rows is over the configured limit. Called before the rows
/// are collected, so a huge declared batch costs nothing.
pub fn check_rows(rows: usize, limit: usize) -> Result<(), ApiError> {
    if rows > limit {
        Err(ApiError::TooManyRows { rows, limit })
    } else {
        Ok(())
    }
}

/// A float input's value from a JSON number (or `null`, a missing value). NaN reaches
/// the model only as `null`, and only for an input that takes missing values
/// ([`model::InputInfo::takes_missing`]); infinities never do.
pub fn feature(value: Option<f64>, takes_missing: bool) -> Result<f32, FeatureError> {
    let number = match value {
        Some(number) if !number.is_nan() => number,
        _ if takes_missing => return Ok(f32::NAN),
        _ => return Err(FeatureError::Missing),
    };
    let single = number as f32;
    if single.is_finite() {
        Ok(single)
    } else {
        Err(FeatureError::OutOfRange)
    }
}

/// Why a value cannot be a float input's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureError {
    /// A missing value (null or NaN) for an input that does not take them.
    Missing,
    /// Infinite, or beyond the range of f32.
    OutOfRange,
}

impl FeatureError {
    /// The message for the value `what` (e.g. "`input[0][2]` = NaN").
    pub fn explain(self, what: &str) -> String {
        match self {
            FeatureError::Missing => format!(
                "{what} is a missing value, and this model does not take missing values \
                 (its answer would be undefined: no tree ensemble or imputer handles \
                 them); send a number"
            ),
            FeatureError::OutOfRange => {
                format!("{what} is infinite or outside the range of a 32-bit float")
            }
        }
    }
}

/// Why a JSON value cannot be a value of its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// Not of the input's type: a string for a number, a number for a string, ...
    WrongType(ElementType),
    /// A float input's value that is missing or out of range.
    Feature(FeatureError),
    /// `null` for an int64 or string input, which have no missing value.
    NoMissing(ElementType),
}

impl Refusal {
    /// The message for `value` at `at` (e.g. `input[3]["island"]`).
    pub fn explain(self, at: &str, value: &Value) -> String {
        let expected = |element| match element {
            ElementType::F32 => "a number",
            ElementType::I64 => "an integer",
            ElementType::Str => "a string",
        };
        match self {
            Refusal::Feature(error) => error.explain(&format!("`{at}` = {}", kind(value))),
            Refusal::WrongType(element) => {
                format!("`{at}` is {}, not {}", kind(value), expected(element))
            }
            Refusal::NoMissing(element) => format!(
                "`{at}` is null, and this column has no missing value; send {}",
                expected(element)
            ),
        }
    }
}

/// Appends `value` to `values`, checked to be of their element type (an integer that
/// fits for int64, a finite f32 or, when the input `takes_missing`, `null` for float,
/// and `null` as the empty string for a string input).
pub fn push_value(values: &mut Values, value: &Value, takes_missing: bool) -> Result<(), Refusal> {
    match (values, value) {
        (Values::F32(floats), Value::Null) => {
            floats.push(feature(None, takes_missing).map_err(Refusal::Feature)?)
        }
        (Values::F32(floats), Value::Number(number)) => {
            let number = number.as_f64().expect("JSON numbers fit an f64");
            floats.push(feature(Some(number), takes_missing).map_err(Refusal::Feature)?)
        }
        (Values::I64(ints), Value::Number(number)) => ints.push(
            number
                .as_i64()
                .ok_or(Refusal::WrongType(ElementType::I64))?,
        ),
        (Values::Str(strings), Value::String(string)) => strings.push(string.clone()),
        // The model learned a missing category, the empty string.
        (Values::Str(strings), Value::Null) if takes_missing => strings.push(String::new()),
        (values, Value::Null) => return Err(Refusal::NoMissing(values.element())),
        (values, _) => return Err(Refusal::WrongType(values.element())),
    }
    Ok(())
}

/// Decodes a non-empty list of at most `max_rows` rows (`field[i]` is row `i`): records,
/// or arrays of values for a model of one numeric input. The batch form of `/predict`
/// and KServe V1's `instances`.
pub fn decode_rows(
    items: &[Value],
    field: &str,
    info: &ModelInfo,
    max_rows: usize,
) -> Result<Batch, ApiError> {
    check_rows(items.len(), max_rows)?;
    if items.first().is_some_and(Value::is_object) {
        return records::decode(items, field, info);
    }
    let input = positional(info, &format!("{field}[0]"))?;
    let width = input.width;
    let mut values = Values::with_capacity(input.element, items.len() * width);
    for (i, item) in items.iter().enumerate() {
        let Value::Array(row) = item else {
            return Err(ApiError::BadRequest(format!(
                "`{field}[{i}]` is {}, not a row of {width} numbers",
                kind(item)
            )));
        };
        push_row(&mut values, row, &format!("{field}[{i}]"), info, input)?;
    }
    Ok(Batch::from_columns(
        items.len(),
        [Column::new(values, width)],
    ))
}

/// The input rows may be sent to as arrays of values; 400 naming the columns for a
/// model that takes records only (several inputs, or a string one), `at` being where
/// an array was sent.
pub fn positional<'i>(info: &'i ModelInfo, at: &str) -> Result<&'i InputInfo, ApiError> {
    info.positional().ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{at}` is a row of values, but this model takes named columns: send each row \
             as a record {}",
            records::example(info)
        ))
    })
}

/// Appends one row of values of the positional `input`, checking its width and each
/// value (see [`push_value`]).
pub fn push_row(
    values: &mut Values,
    row: &[Value],
    at: &str,
    info: &ModelInfo,
    input: &InputInfo,
) -> Result<(), ApiError> {
    if row.len() != input.width {
        let names = info
            .feature_names
            .as_ref()
            .map(|names| format!(" ({})", names.join(", ")))
            .unwrap_or_default();
        return Err(ApiError::BadRequest(format!(
            "`{at}` has {} features, the model takes {}{names}",
            row.len(),
            input.width
        )));
    }
    for (j, value) in row.iter().enumerate() {
        push_value(values, value, input.takes_missing).map_err(|refusal| {
            ApiError::BadRequest(refusal.explain(&format!("{at}[{j}]"), value))
        })?;
    }
    Ok(())
}

/// A short description of a JSON value for error messages.
pub fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() <= 32 => format!("the string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_values_only_for_inputs_that_take_them() {
        assert_eq!(feature(Some(1.5), false), Ok(1.5));
        assert_eq!(feature(None, false), Err(FeatureError::Missing));
        assert_eq!(feature(Some(f64::NAN), false), Err(FeatureError::Missing));
        assert!(feature(None, true).unwrap().is_nan());
        assert_eq!(
            feature(Some(f64::INFINITY), true),
            Err(FeatureError::OutOfRange)
        );
        assert_eq!(feature(Some(1e39), true), Err(FeatureError::OutOfRange));
    }

    #[test]
    fn values_must_be_of_their_input_s_type() {
        let mut ints = Values::I64(vec![]);
        assert!(push_value(&mut ints, &json!(7), false).is_ok());
        let half = push_value(&mut ints, &json!(1.5), false).unwrap_err();
        assert_eq!(half.explain("x", &json!(1.5)), "`x` is 1.5, not an integer");
        let null = push_value(&mut ints, &json!(null), true).unwrap_err();
        assert!(null.explain("x", &json!(null)).contains("no missing value"));
        let mut strings = Values::Str(vec![]);
        assert!(push_value(&mut strings, &json!("Dream"), false).is_ok());
        let number = push_value(&mut strings, &json!(3), false).unwrap_err();
        assert_eq!(number.explain("x", &json!(3)), "`x` is 3, not a string");
        assert_eq!(ints, Values::I64(vec![7]));
        assert_eq!(strings, Values::Str(vec!["Dream".into()]));
    }

    #[test]
    fn row_limit_is_inclusive() {
        assert!(check_rows(10, 10).is_ok());
        assert!(matches!(
            check_rows(11, 10),
            Err(ApiError::TooManyRows {
                rows: 11,
                limit: 10
            })
        ));
    }
}
