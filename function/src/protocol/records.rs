//! Rows sent as records, `{"column": value, ...}`: the decoder of named columns that
//! explains what is wrong, for `/predict`, CloudEvents and KServe V1 (regular bodies take
//! `fast_records` first, which builds the same batch). The columns are the model's
//! [`model::Field`]s: the features of a single input whose names are known, or one per
//! graph input. A record has every column and no other; a value is of its column's type
//! (an array of the input's width for a column of several values), and `null` only for
//! a float column whose input takes missing values. An unseen category is no error
//! here: it goes to the model, whose encoder does what it was exported to do.

use std::fmt;

use serde_json::{Map, Value};

use model::{Batch, Column, ElementType, Field, ModelInfo, Values};

use super::rows::{kind, push_value};
use crate::error::ApiError;

/// Columns named in a message before the rest are counted.
const NAMED_IN_MESSAGES: usize = 20;

/// Decodes a list of records (`field[i]` is row `i`); the caller has checked the row
/// limit. Every item must be a record.
pub fn decode(items: &[Value], field: &str, info: &ModelInfo) -> Result<Batch, ApiError> {
    let mut decoder = Decoder::new(info, items.len());
    for (i, item) in items.iter().enumerate() {
        let at = Row {
            field,
            row: Some(i),
        };
        let Value::Object(record) = item else {
            return Err(ApiError::BadRequest(format!(
                "`{at}` is {}, not a record; send every row as {}",
                kind(item),
                example(info)
            )));
        };
        decoder.push(record, at)?;
    }
    Ok(decoder.finish(items.len()))
}

/// Decodes one record, the row at `at` (a `/predict` body's `input`).
pub fn decode_one(
    record: &Map<String, Value>,
    at: &str,
    info: &ModelInfo,
) -> Result<Batch, ApiError> {
    let mut decoder = Decoder::new(info, 1);
    decoder.push(
        record,
        Row {
            field: at,
            row: None,
        },
    )?;
    Ok(decoder.finish(1))
}

/// Where a record is in the request, `input[3]` (or `input` for the only one), written
/// only into messages: a valid request formats nothing.
#[derive(Debug, Clone, Copy)]
struct Row<'a> {
    field: &'a str,
    row: Option<usize>,
}

impl fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(i) => write!(f, "{}[{i}]", self.field),
            None => f.write_str(self.field),
        }
    }
}

/// A record of the model's columns with placeholder values, for messages:
/// `{"island": "...", "bill_length": 0.0}`.
pub fn example(info: &ModelInfo) -> String {
    let fields = info.fields();
    let entries: Vec<String> = (fields.iter().take(NAMED_IN_MESSAGES))
        .map(|field| {
            let value = match (field.element, field.width) {
                (ElementType::Str, 1) => "\"...\"",
                (_, 1) => "0",
                _ => "[...]",
            };
            format!("{:?}: {value}", field.name)
        })
        .collect();
    let more = fields.len().saturating_sub(NAMED_IN_MESSAGES);
    let rest = if more > 0 {
        format!(", ... ({more} more)")
    } else {
        String::new()
    };
    format!("{{{}{rest}}}", entries.join(", "))
}

/// Records going into one column of values per input.
struct Decoder<'i> {
    info: &'i ModelInfo,
    fields: Vec<Field<'i>>,
    /// Distinct column names: a record with more keys has an unknown one.
    distinct: usize,
    columns: Vec<Values>,
}

impl<'i> Decoder<'i> {
    /// Room for `rows` rows of every input.
    fn new(info: &'i ModelInfo, rows: usize) -> Decoder<'i> {
        let columns = (info.inputs.iter())
            .map(|input| Values::with_capacity(input.element, rows * input.width))
            .collect();
        let fields = info.fields();
        let mut names: Vec<&str> = fields.iter().map(|field| field.name).collect();
        names.sort_unstable();
        names.dedup();
        Decoder {
            info,
            distinct: names.len(),
            fields,
            columns,
        }
    }

    /// Appends the row `record`, which is at `at` in the request. Fields come in input
    /// and column order (see [`ModelInfo::fields`]), so each input fills row-major.
    fn push(&mut self, record: &Map<String, Value>, at: Row<'_>) -> Result<(), ApiError> {
        let bad = ApiError::BadRequest;
        for field in &self.fields {
            let Some(value) = record.get(field.name) else {
                return Err(bad(format!(
                    "`{at}` has no column {:?}; a record has every column: {}",
                    field.name,
                    example(self.info)
                )));
            };
            let place = || format!("{at}[{:?}]", field.name);
            let column = &mut self.columns[field.input];
            if field.width == 1 {
                push_value(column, value, field.takes_missing)
                    .map_err(|refusal| bad(refusal.explain(&place(), value)))?;
                continue;
            }
            let items = match value {
                Value::Array(items) if items.len() == field.width => items,
                _ => {
                    return Err(bad(format!(
                        "`{}` is {}, not an array of {} values",
                        place(),
                        kind(value),
                        field.width
                    )))
                }
            };
            for (j, item) in items.iter().enumerate() {
                push_value(column, item, field.takes_missing)
                    .map_err(|refusal| bad(refusal.explain(&format!("{}[{j}]", place()), item)))?;
            }
        }
        // Every column was found, so a key more is a key that is no column.
        if record.len() > self.distinct {
            let unknown = (record.keys())
                .find(|key| !self.fields.iter().any(|f| f.name == key.as_str()))
                .expect("a record with every column and more keys has an unknown one");
            return Err(bad(format!(
                "`{at}` has an unknown column {unknown:?}; the model's columns are {}",
                example(self.info)
            )));
        }
        Ok(())
    }

    /// The batch of the `rows` rows pushed.
    fn finish(self, rows: usize) -> Batch {
        let widths = self.info.inputs.iter().map(|input| input.width);
        let columns = (self.columns.into_iter().zip(widths))
            .map(|(values, width)| Column::new(values, width));
        Batch::from_columns(rows, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A ColumnTransformer-like model: a string, a float taking missing values, an int64
    /// and a float of two values.
    fn penguins() -> ModelInfo {
        ModelInfo::columns_for_tests()
    }

    fn row(island: Value) -> Value {
        json!({ "island": island, "bill_length": 39.1, "year": 2007, "flipper": [181, 3750] })
    }

    fn error(items: Value) -> String {
        let items = items.as_array().unwrap();
        decode(items, "input", &penguins()).unwrap_err().to_string()
    }

    #[test]
    fn records_fill_one_column_per_input_row_major() {
        let items = [row(json!("Dream")), row(json!("Biscoe"))];
        let batch = decode(&items, "input", &penguins()).unwrap();
        assert_eq!(batch.rows(), 2);
        let columns = batch.columns();
        let islands = Values::Str(vec!["Dream".into(), "Biscoe".into()]);
        assert_eq!(columns[0].values(), &islands);
        assert_eq!(columns[2].values(), &Values::I64(vec![2007, 2007]));
        let flippers = Values::F32(vec![181.0, 3750.0, 181.0, 3750.0]);
        assert_eq!((columns[3].width(), columns[3].values()), (2, &flippers));
    }

    #[test]
    fn a_missing_column_is_named_with_its_row() {
        let mut second = row(json!("Dream"));
        second.as_object_mut().unwrap().remove("year");
        let message = error(json!([row(json!("Dream")), second]));
        assert!(
            message.contains("`input[1]` has no column \"year\""),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_column_is_named_with_its_row() {
        let mut extra = row(json!("Dream"));
        extra["isle"] = json!("Dream");
        let message = error(json!([extra]));
        assert!(
            message.contains("`input[0]` has an unknown column \"isle\""),
            "{message}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_row_and_column() {
        let message = error(json!([row(json!("Dream")), row(json!(3))]));
        assert!(
            message.contains(r#"`input[1]["island"]` is 3, not a string"#),
            "{message}"
        );
        let mut wide = row(json!("Dream"));
        wide["flipper"] = json!([181]);
        let message = error(json!([wide]));
        assert!(message.contains("not an array of 2 values"), "{message}");
    }

    #[test]
    fn null_only_where_the_input_takes_missing_values() {
        let mut missing_bill = row(json!("Dream"));
        missing_bill["bill_length"] = Value::Null;
        let batch = decode(&[missing_bill], "input", &penguins()).unwrap();
        let Values::F32(bills) = batch.columns()[1].values() else {
            panic!("bill_length is a float input")
        };
        assert!(bills[0].is_nan());
        let mut missing_flipper = row(json!("Dream"));
        missing_flipper["flipper"][1] = Value::Null;
        let message = error(json!([missing_flipper]));
        assert!(
            message.contains(r#"`input[0]["flipper"][1]` = null is a missing value"#),
            "{message}"
        );
        assert!(error(json!([row(Value::Null)])).contains("no missing value"));
    }

    #[test]
    fn null_is_the_empty_string_where_a_string_input_takes_missing_values() {
        let mut info = penguins();
        info.inputs[0].takes_missing = true;
        let batch = decode(&[row(Value::Null), row(json!("Dream"))], "input", &info).unwrap();
        let Values::Str(islands) = batch.columns()[0].values() else {
            panic!("island is a string input")
        };
        assert_eq!(islands, &["", "Dream"]);
        // A number is still not a string.
        let message = decode(&[row(json!(3))], "input", &info)
            .unwrap_err()
            .to_string();
        assert!(message.contains("not a string"), "{message}");
    }

    #[test]
    fn one_record_is_one_row_named_by_its_field() {
        let Value::Object(record) = row(json!("Torgersen")) else {
            unreachable!()
        };
        assert_eq!(decode_one(&record, "input", &penguins()).unwrap().rows(), 1);
        let mut wrong = record.clone();
        wrong.insert("year".into(), json!("2007"));
        let message = decode_one(&wrong, "input", &penguins()).unwrap_err();
        assert!(message
            .to_string()
            .contains(r#"`input["year"]` is the string"#));
    }

    #[test]
    fn an_unseen_category_goes_to_the_model() {
        let batch = decode(&[row(json!("Atlantis"))], "input", &penguins()).unwrap();
        let atlantis = Values::Str(vec!["Atlantis".into()]);
        assert_eq!(batch.columns()[0].values(), &atlantis);
    }

    #[test]
    fn an_array_among_records_is_refused_with_an_example_record() {
        let message = error(json!([row(json!("Dream")), [1, 2]]));
        assert!(
            message.contains(r#"`input[1]` is an array, not a record; send every row as {"island": "...", "bill_length": 0"#),
            "{message}"
        );
    }
}
