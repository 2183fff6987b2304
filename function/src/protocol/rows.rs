//! Rows of features as every protocol decodes them: each value checked to fit the
//! model's 32-bit float input (or to be a missing value the model takes), each row as
//! wide as the model's input, and the batch within the row limit.

use serde_json::Value;

use model::{Batch, ModelInfo};

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

/// A feature value for the model from a JSON number (or `null`, a missing value).
/// NaN reaches the model only as `null`, and only when the model takes missing values
/// ([`model::ModelInfo::handles_missing`]); infinities never do.
pub fn feature(value: Option<f64>, handles_missing: bool) -> Result<f32, FeatureError> {
    let Some(number) = value else {
        return if handles_missing {
            Ok(f32::NAN)
        } else {
            Err(FeatureError::Missing)
        };
    };
    if number.is_nan() {
        return if handles_missing {
            Ok(f32::NAN)
        } else {
            Err(FeatureError::Missing)
        };
    }
    let single = number as f32;
    if single.is_finite() {
        Ok(single)
    } else {
        Err(FeatureError::OutOfRange)
    }
}

/// Why a value cannot be a feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureError {
    /// A missing value (null or NaN) for a model that does not take them.
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
                 (it has no branch for them); send a number"
            ),
            FeatureError::OutOfRange => {
                format!("{what} is infinite or outside the range of a 32-bit float")
            }
        }
    }
}

/// Decodes a non-empty list of at most `max_rows` rows (`field[i]` is row `i`), each as
/// wide as the model's input: the batch form of `/predict` and KServe V1's `instances`.
pub fn decode_rows(
    items: &[Value],
    field: &str,
    info: &ModelInfo,
    max_rows: usize,
) -> Result<Batch, ApiError> {
    check_rows(items.len(), max_rows)?;
    let width = info.n_features;
    let mut values = Vec::with_capacity(items.len() * width);
    for (i, item) in items.iter().enumerate() {
        let Value::Array(row) = item else {
            return Err(ApiError::BadRequest(format!(
                "`{field}[{i}]` is {}, not a row of {width} numbers",
                kind(item)
            )));
        };
        push_row(&mut values, row, &format!("{field}[{i}]"), info)?;
    }
    Ok(Batch::new(values, width))
}

/// Appends one row of features, checking its width and that each value is a number
/// that fits in the model's 32-bit float input (or `null` for a model that takes
/// missing values).
pub(super) fn push_row(
    values: &mut Vec<f32>,
    row: &[Value],
    at: &str,
    info: &ModelInfo,
) -> Result<(), ApiError> {
    if row.len() != info.n_features {
        let names = info
            .feature_names
            .as_ref()
            .map(|names| format!(" ({})", names.join(", ")))
            .unwrap_or_default();
        return Err(ApiError::BadRequest(format!(
            "`{at}` has {} features, the model takes {}{names}",
            row.len(),
            info.n_features
        )));
    }
    for (j, value) in row.iter().enumerate() {
        let number = match value {
            Value::Null => None,
            _ => Some(value.as_f64().ok_or_else(|| {
                ApiError::BadRequest(format!("`{at}[{j}]` is {}, not a number", kind(value)))
            })?),
        };
        let feature = feature(number, info.handles_missing).map_err(|e| {
            ApiError::BadRequest(e.explain(&format!("`{at}[{j}]` = {}", kind(value))))
        })?;
        values.push(feature);
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

    #[test]
    fn missing_values_only_for_models_that_take_them() {
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
