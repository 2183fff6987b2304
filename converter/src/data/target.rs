//! The target column of a CSV file: classes (integer labels in numeric order, or names
//! in byte order) or, for a regression, numbers; which of the two when the user does
//! not say ([`TaskChoice::Infer`]).

use std::collections::BTreeMap;

use super::csv::RawData;
use super::error::DataError;
use super::{ClassLabels, Table};

/// Targets with more distinct numbers than this are values to predict (regression) when
/// the task is not given; fewer are classes.
pub const MAX_INFERRED_CLASSES: usize = 20;

/// What the target column is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskChoice {
    /// Regression when every target is a number and there are more than
    /// [`MAX_INFERRED_CLASSES`] distinct ones, else classification.
    Infer,
    /// Classes.
    Classification,
    /// Values.
    Regression,
}

/// The table of `raw` for `task`: values for regression (every target must be a
/// finite number), classes otherwise ([`into_table`]).
pub fn into_task_table(
    raw: RawData,
    source_name: &str,
    task: TaskChoice,
) -> Result<Table, DataError> {
    let numbers: Option<Vec<f32>> = (raw.target_values.iter())
        .map(|v| v.parse::<f32>().ok().filter(|x| x.is_finite()))
        .collect();
    let regression = match task {
        TaskChoice::Classification => false,
        TaskChoice::Regression => true,
        TaskChoice::Infer => numbers.is_some() && raw.target_values.len() > MAX_INFERRED_CLASSES,
    };
    if !regression {
        return into_table(raw, source_name);
    }
    let Some(numbers) = numbers else {
        let bad = (raw.target_values.iter())
            .find(|v| v.parse::<f32>().ok().filter(|x| x.is_finite()).is_none())
            .expect("some value is not a number");
        return Err(DataError::Columns {
            source_name: source_name.to_string(),
            message: format!(
                "the target column `{}` holds `{bad}`, not a finite number; regression needs numbers (leave out --task regression to predict classes)",
                raw.target_name
            ),
        });
    };
    Ok(Table {
        values: raw.targets.iter().map(|&t| numbers[t]).collect(),
        targets: vec![0; raw.targets.len()],
        records: raw.records,
        columns: raw.columns,
        feature_names: raw.feature_names,
        class_names: Vec::new(),
        labels: ClassLabels::Int(Vec::new()),
    })
}

/// Assigns classes: integer labels in numeric order when every target is an integer,
/// otherwise string labels in byte order, so the class order never depends on the row
/// order or on hashing.
pub fn into_table(raw: RawData, source_name: &str) -> Result<Table, DataError> {
    let ints: Option<Vec<i64>> = raw
        .target_values
        .iter()
        .map(|v| v.parse::<i64>().ok())
        .collect();
    // Each distinct text -> its class index.
    let (class_of_value, labels, class_names) = match ints {
        Some(ints) => {
            // "1" and "01" are one class: they are one integer label.
            let sorted: BTreeMap<i64, ()> = ints.iter().map(|&i| (i, ())).collect();
            let order: Vec<i64> = sorted.into_keys().collect();
            let class_of = ints
                .iter()
                .map(|i| order.binary_search(i).expect("every value is in the order"))
                .collect::<Vec<_>>();
            let names = order.iter().map(i64::to_string).collect();
            (class_of, ClassLabels::Int(order), names)
        }
        None => {
            let mut order = raw.target_values.clone();
            order.sort_unstable();
            let class_of = raw
                .target_values
                .iter()
                .map(|v| order.binary_search(v).expect("every value is in the order"))
                .collect::<Vec<_>>();
            (class_of, ClassLabels::Str(order.clone()), order)
        }
    };
    if labels.len() < 2 {
        return Err(DataError::OneClass {
            source_name: source_name.to_string(),
            target: raw.target_name,
            class: class_names[0].clone(),
        });
    }
    Ok(Table {
        records: raw.records,
        targets: raw.targets.iter().map(|&v| class_of_value[v]).collect(),
        values: Vec::new(),
        columns: raw.columns,
        feature_names: raw.feature_names,
        class_names,
        labels,
    })
}
