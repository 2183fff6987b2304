//! What `converter train` prints (text or `--json`: the data's columns, the
//! evaluation, the check) and the check itself: the exported file, loaded by the
//! function's runtime, must predict what the trained model predicts.

use anyhow::Context;
use model::{Batch, Column, Labels, Model, Predicted, Values};
use serde::Serialize;

use super::train::{train, ModelKind, TaskKind, TrainArgs, TrainOutcome};
use crate::data::columns::ColumnSummary;
use crate::data::ClassLabels;
use crate::evaluate::Evaluation;
use crate::train::encoding::category_names;

/// The machine-readable report of `train --json`.
#[derive(Serialize)]
struct Report<'a> {
    data: DataSummary<'a>,
    task: TaskKind,
    model: ModelKind,
    evaluation: &'a Evaluation,
    tract_check: TractCheck,
    output: Output,
}

#[derive(Serialize)]
struct DataSummary<'a> {
    source: String,
    rows: usize,
    feature_names: &'a [String],
    columns: Vec<ColumnSummary>,
    class_names: &'a [String],
    class_counts: Vec<usize>,
    string_labels: bool,
}

#[derive(Serialize)]
struct TractCheck {
    rows: usize,
    agreeing: usize,
}

#[derive(Serialize)]
struct Output {
    path: String,
    bytes: usize,
}

pub(super) fn train_command(args: &TrainArgs) -> anyhow::Result<()> {
    let outcome = train(args)?;
    let output = args.output_path();
    let table = &outcome.table;
    let agreeing = tract_agreement(&outcome)?;
    std::fs::write(&output, &outcome.onnx)
        .with_context(|| format!("cannot write {}", output.display()))?;
    let source = args
        .data
        .as_ref()
        .map_or("iris (bundled)".into(), |p| p.display().to_string());
    if args.json {
        let report = Report {
            data: DataSummary {
                source,
                rows: table.len(),
                feature_names: &table.feature_names,
                columns: table.columns.iter().map(|c| c.summary()).collect(),
                class_names: &table.class_names,
                class_counts: table.class_counts(),
                string_labels: matches!(table.labels, ClassLabels::Str(_)),
            },
            task: if table.is_regression() {
                TaskKind::Regression
            } else {
                TaskKind::Classification
            },
            model: args.model,
            evaluation: &outcome.evaluation,
            tract_check: TractCheck {
                rows: table.len(),
                agreeing,
            },
            output: Output {
                path: output.display().to_string(),
                bytes: outcome.onnx.len(),
            },
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if table.is_regression() {
        println!(
            "data: {source}, {} rows, {} features, regression of a numeric target",
            table.len(),
            table.n_features(),
        );
    } else {
        println!(
            "data: {source}, {} rows, {} features, {} classes ({})",
            table.len(),
            table.n_features(),
            table.class_names.len(),
            table.class_names.join(", ")
        );
    }
    for column in &table.columns {
        println!("column {}", column.summary());
    }
    println!("{}", outcome.evaluation.to_text());
    let what = if table.is_regression() {
        "value (within 1e-4 relative)"
    } else {
        "class"
    };
    println!(
        "tract check: the exported model predicts the trained model's {what} on {agreeing} of {} rows",
        table.len()
    );
    println!("wrote {} ({} bytes)", output.display(), outcome.onnx.len());
    Ok(())
}

/// Loads the exported model with the function's runtime and counts the rows of the
/// table on which it predicts the class the trained model predicts (labels compared
/// through the table's labels). The rows go in as the served model takes them: one
/// float tensor, or one column per input (NaN for a missing number, the category's
/// text for a categorical cell).
pub fn tract_agreement(outcome: &TrainOutcome) -> anyhow::Result<usize> {
    let table = &outcome.table;
    let model = Model::from_bytes(&outcome.onnx).context("tract cannot load the exported model")?;
    let batch = if table.needs_column_inputs() {
        let columns = table.columns.iter().enumerate().map(|(j, column)| {
            let cells = table.records.column(j);
            let values = if column.is_categorical() {
                let names = category_names(column);
                Values::Str(cells.iter().map(|&c| names[c as usize].clone()).collect())
            } else {
                Values::F32(cells.to_vec())
            };
            Column::new(values, 1)
        });
        Batch::from_columns(table.len(), columns)
    } else {
        let values: Vec<f32> = table.records.iter().copied().collect();
        Batch::new(values, table.n_features())
    };
    let prediction = model.predict(&batch)?;
    let encoded = outcome.encoding.apply(table).records;
    if table.is_regression() {
        let Predicted::Values { values, .. } = prediction.predicted else {
            anyhow::bail!("the exported regressor answered labels");
        };
        let expected = outcome.trained.predict_values(&encoded);
        let close = |(got, want): (&f32, &f32)| (got - want).abs() <= 1e-4 * want.abs().max(1.0);
        return Ok(values.iter().zip(&expected).filter(|p| close(*p)).count());
    }
    let expected = outcome.trained.predict(&encoded);
    let agreeing = match (prediction.predicted, &table.labels) {
        (Predicted::Labels(Labels::Int(got)), ClassLabels::Int(labels)) => got
            .iter()
            .zip(&expected)
            .filter(|(got, &want)| **got == labels[want])
            .count(),
        (Predicted::Labels(Labels::Str(got)), ClassLabels::Str(labels)) => got
            .iter()
            .zip(&expected)
            .filter(|(got, &want)| **got == labels[want])
            .count(),
        _ => anyhow::bail!("the exported model's label type is not the data's"),
    };
    Ok(agreeing)
}
