//! `converter verify`: run an ONNX model with the function's own runtime (tract plus the
//! function's tree-ensemble ops) on the rows of a CSV file and compare its labels with
//! the file's, as agreement, per-class numbers and a confusion matrix.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use model::{Batch, Column, ElementType, Labels, Model, Predicted, Task, Values};
use serde::Serialize;

use crate::data::csv::{self, Columns, RawData};
use crate::data::{ColumnKind, Parsing};
use crate::evaluate::{Confusion, Evaluation};
use crate::evaluate_values::RegressionScores;
use crate::progress::Progress;

/// Rows per prediction call: bounds the memory of a batch on large files.
const CHUNK_ROWS: usize = 4096;

/// Flags of `converter verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The ONNX model to run.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,

    /// CSV file with a header row, the model's feature columns and the true labels.
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,

    /// Column holding the true labels [default: the one column that is not a feature,
    /// when the model names its features in its metadata].
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,

    /// Feature columns, comma separated, in the model's input order [default: the
    /// model's `feature_names` metadata, else every column except the target].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub features: Option<Vec<String>>,

    /// Print a JSON report on stdout instead of text.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The CSV column compared against.
    pub target: String,
    /// The feature columns given to the model, in input order.
    pub features: Vec<String>,
    /// The file spells the model's integer labels as its class names (`setosa` for 0),
    /// and was compared through them.
    pub labels_as_class_names: bool,
    /// Rows whose predicted label is the file's, and all rows: the accuracy of the
    /// model on this file.
    pub evaluation: Evaluation,
}

/// Reads the feature columns of the CSV file `data` with a progress bar on a terminal;
/// with `width`, the model's values per row, a file with another number of feature
/// columns is an error saying so.
pub(super) fn read_model_rows(
    data: &std::path::Path,
    columns: Columns,
    parsing: &Parsing,
    width: Option<usize>,
) -> anyhow::Result<RawData> {
    let size = std::fs::metadata(data).map_or(0, |m| m.len());
    let progress = Progress::new("reading", size, size);
    let raw = csv::read_path(data, columns, parsing, &progress)?;
    progress.finish();
    if let Some(width) = width.filter(|&w| w != raw.records.ncols()) {
        anyhow::bail!(
            "{} has {} feature columns ({}), the model takes {}; choose them with --features",
            data.display(),
            raw.records.ncols(),
            raw.feature_names.join(", "),
            width
        );
    }
    Ok(raw)
}

/// Runs `args.model` on `args.data` and compares labels, writing nothing.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<Verified> {
    let model = Model::from_path(&args.model)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let info = model.info();
    let labels = match &info.task {
        Task::Classifier { labels } => Some(labels),
        Task::Regressor { targets: 1 } => None,
        Task::Regressor { targets } => anyhow::bail!(
            "{} predicts {targets} values per row; verify compares one target column",
            args.model.display()
        ),
    };
    // One float input takes the feature columns as numbers; a graph of one input per
    // column (as `train` exports a table with categories or missing cells, and skl2onnx
    // a ColumnTransformer) takes each column by its input's name and type.
    let positional = info.positional().filter(|i| i.element == ElementType::F32);
    let by_column = positional.is_none()
        && (info.inputs.iter())
            .all(|i| i.width == 1 && matches!(i.element, ElementType::F32 | ElementType::Str));
    if positional.is_none() && !by_column {
        let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
        anyhow::bail!(
            "{} takes the inputs {names:?}; verify reads CSV columns into one float input, \
             or into one float or string input [N, 1] per column",
            args.model.display()
        );
    }
    let input_names: Vec<String> = info.inputs.iter().map(|i| i.name.clone()).collect();
    let features = match positional {
        Some(_) => args.features.clone().or_else(|| info.feature_names.clone()),
        None => Some(input_names),
    };
    let parsing = match positional {
        // The model takes one float input: every feature cell must be a number or missing.
        Some(_) => Parsing {
            infer_categorical: false,
            ..Parsing::default()
        },
        None => Parsing {
            categorical: (info.inputs.iter())
                .filter(|i| i.element == ElementType::Str)
                .map(|i| i.name.clone())
                .collect(),
            numeric: (info.inputs.iter())
                .filter(|i| i.element == ElementType::F32)
                .map(|i| i.name.clone())
                .collect(),
            infer_categorical: false,
            ..Parsing::default()
        },
    };
    let columns = Columns {
        target: args.target.as_deref(),
        features: features.as_deref(),
    };
    let width = positional.map(|input| input.width);
    let raw = read_model_rows(&args.data, columns, &parsing, width)?;
    let width = width.unwrap_or(raw.records.ncols());
    let batch = |rows: std::ops::Range<usize>| -> Batch {
        let n = rows.len();
        let block = (raw.records).slice_axis(ndarray::Axis(0), ndarray::Slice::from(rows));
        if positional.is_some() {
            return Batch::new(block.iter().copied().collect(), width);
        }
        let columns = raw.columns.iter().enumerate().map(|(j, column)| {
            let cells = block.column(j);
            let values = match &column.kind {
                ColumnKind::Categorical { categories } => Values::Str(
                    cells
                        .iter()
                        .map(|&c| categories[c as usize].clone())
                        .collect(),
                ),
                ColumnKind::Numeric => Values::F32(cells.to_vec()),
            };
            Column::new(values, 1)
        });
        Batch::from_columns(n, columns)
    };

    let method = format!(
        "{} run with the function's runtime (tract) on the {} rows of {}, against column `{}`",
        args.model.display(),
        raw.targets.len(),
        args.data.display(),
        raw.target_name
    );
    let Some(labels) = labels else {
        return verify_values(&model, &raw, &batch, method);
    };
    let classes = Classes::match_file(labels, info.class_names.as_deref(), &raw)
        .map_err(|message| anyhow::anyhow!("{}: {message}", args.data.display()))?;
    let names = &classes.names;
    let index: HashMap<&str, usize> = classes
        .answers
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let value_class = &classes.value_class;

    let mut predicted = Vec::with_capacity(raw.targets.len());
    for start in (0..raw.targets.len()).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(raw.targets.len());
        let prediction = model.predict(&batch(start..end))?;
        let Predicted::Labels(got) = prediction.predicted else {
            anyhow::bail!("the model answered values, not labels");
        };
        let text: Vec<String> = match got {
            Labels::Int(v) => v.iter().map(i64::to_string).collect(),
            Labels::Str(v) => v,
        };
        for label in text {
            let class = *index.get(label.as_str()).with_context(|| {
                format!("the model answered `{label}`, which is not among its class labels")
            })?;
            predicted.push(class);
        }
    }
    let actual: Vec<usize> = raw.targets.iter().map(|&v| value_class[v]).collect();
    let confusion = Confusion::from_pairs(names.len(), &actual, &predicted);
    Ok(Verified {
        target: raw.target_name,
        features: raw.feature_names,
        labels_as_class_names: classes.by_class_name,
        evaluation: Evaluation::new(method, &confusion, names),
    })
}

/// A regressor's R2, MAE and RMSE against the file's target column, which must hold
/// numbers.
fn verify_values(
    model: &Model,
    raw: &RawData,
    batch: &dyn Fn(std::ops::Range<usize>) -> Batch,
    method: String,
) -> anyhow::Result<Verified> {
    let numbers: Vec<f32> = (raw.target_values.iter())
        .map(|v| {
            v.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .with_context(|| {
                    format!(
                    "the target column `{}` holds `{v}`, not a number; the model predicts values",
                    raw.target_name
                )
                })
        })
        .collect::<anyhow::Result<_>>()?;
    let actual: Vec<f32> = raw.targets.iter().map(|&t| numbers[t]).collect();
    let mut predicted = Vec::with_capacity(actual.len());
    for start in (0..actual.len()).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(actual.len());
        let Predicted::Values { values, .. } = model.predict(&batch(start..end))?.predicted else {
            anyhow::bail!("the model answered labels, not values");
        };
        predicted.extend(values);
    }
    let scores = RegressionScores::new(&actual, &predicted);
    Ok(Verified {
        target: raw.target_name.clone(),
        features: raw.feature_names.clone(),
        labels_as_class_names: false,
        evaluation: Evaluation::of_values(method, actual.len(), scores),
    })
}

/// The classes a verification counts: the model's, then those only the file has.
#[derive(Debug, PartialEq)]
struct Classes {
    /// Per class, its name in the report: the file's spelling.
    names: Vec<String>,
    /// Per model class, the label the model answers, as text.
    answers: Vec<String>,
    /// Per distinct value of the file's target column, its class.
    value_class: Vec<usize>,
    /// The file names the model's integer labels by the model's class names.
    by_class_name: bool,
}

impl Classes {
    /// Matches the target values of `raw` with the model's `labels`, or, when no value
    /// is one of those, with the model's `class_names` (in label order, as the converter
    /// writes them): the bundled model answers 0, 1, 2 for setosa, versicolor, virginica.
    /// A file none of whose values the model can answer is refused: every row would
    /// count as wrong, and an accuracy of 0 would look like a result.
    fn match_file(
        labels: &Labels,
        class_names: Option<&[String]>,
        raw: &RawData,
    ) -> Result<Classes, String> {
        let answers: Vec<String> = match labels {
            Labels::Int(v) => v.iter().map(i64::to_string).collect(),
            Labels::Str(v) => v.clone(),
        };
        let int_labels = matches!(labels, Labels::Int(_));
        // "07" in the file is the model's label 7.
        let normalise = |text: &str| match text.parse::<i64>() {
            Ok(i) if int_labels => i.to_string(),
            _ => text.to_string(),
        };
        let values: Vec<String> = raw.target_values.iter().map(|v| normalise(v)).collect();
        let overlap = |names: &[String]| values.iter().any(|v| names.contains(v));
        let named = class_names.filter(|names| names.len() == answers.len());
        let (mut names, by_class_name) = if overlap(&answers) {
            (answers.clone(), false)
        } else if let Some(named) = named.filter(|&named| overlap(named)) {
            (named.to_vec(), true)
        } else {
            let list = |names: &[String]| {
                let mut shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
                if names.len() > 10 {
                    shown.push("...");
                }
                shown.join(", ")
            };
            return Err(format!(
                "none of the labels in column `{}` ({}) is one the model answers ({}){}; \
                 is `{}` the column of true labels? choose it with --target",
                raw.target_name,
                list(&values),
                list(&answers),
                named.map_or(String::new(), |named| format!(
                    " or one of its class names ({})",
                    list(named)
                )),
                raw.target_name,
            ));
        };
        let mut file_only: Vec<String> = values
            .iter()
            .filter(|v| !names.contains(v))
            .cloned()
            .collect();
        file_only.sort_unstable();
        file_only.dedup();
        names.extend(file_only);
        let value_class = values
            .iter()
            .map(|v| {
                names
                    .iter()
                    .position(|n| n == v)
                    .expect("every value is named")
            })
            .collect();
        Ok(Classes {
            names,
            answers,
            value_class,
            by_class_name,
        })
    }
}

pub(super) fn verify_command(args: &VerifyArgs) -> anyhow::Result<()> {
    let verified = verify(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verified)?);
    } else {
        println!("features: {}", verified.features.join(", "));
        if verified.labels_as_class_names {
            println!("labels: the model's, read as its class names (label i is class name i)");
        }
        print!("{}", verified.evaluation.to_text());
        let e = &verified.evaluation;
        if e.regression.is_none() {
            println!(
                "agreement with `{}`: {:.4} ({} of {} rows)",
                verified.target, e.accuracy, e.correct, e.rows
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file whose target column holds `values`.
    fn raw(values: &[&str]) -> RawData {
        RawData {
            feature_names: vec![],
            columns: vec![],
            target_name: "species".into(),
            records: ndarray::Array2::zeros((0, 0)),
            targets: vec![],
            target_values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn iris_names() -> Vec<String> {
        ["setosa", "versicolor", "virginica"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn integer_labels_are_matched_through_the_class_names() {
        let labels = Labels::Int(vec![0, 1, 2]);
        let names = iris_names();
        let classes =
            Classes::match_file(&labels, Some(&names[..]), &raw(&["virginica", "setosa"]));
        assert_eq!(
            classes,
            Ok(Classes {
                names: names.clone(),
                answers: ["0", "1", "2"].map(String::from).to_vec(),
                value_class: vec![2, 0],
                by_class_name: true,
            })
        );
        // The labels themselves win when the file has them ("07" is 7).
        let labels = Labels::Int(vec![0, 7]);
        let two = Some(&names[..2]);
        let classes = Classes::match_file(&labels, two, &raw(&["07", "0", "3"])).unwrap();
        assert_eq!(
            (classes.value_class, classes.by_class_name),
            (vec![1, 0, 2], false)
        );
        assert_eq!(classes.names, ["0", "7", "3"]);
    }

    #[test]
    fn a_file_with_none_of_the_models_labels_is_refused() {
        let labels = Labels::Int(vec![0, 1, 2]);
        let names = iris_names();
        let err = Classes::match_file(&labels, Some(&names[..]), &raw(&["red", "blue"]));
        let err = err.unwrap_err();
        assert_eq!(
            err,
            "none of the labels in column `species` (red, blue) is one the model answers \
             (0, 1, 2) or one of its class names (setosa, versicolor, virginica); is \
             `species` the column of true labels? choose it with --target"
        );
        let err = Classes::match_file(&labels, None, &raw(&["setosa"])).unwrap_err();
        assert!(
            err.contains("(setosa) is one the model answers (0, 1, 2);"),
            "{err}"
        );
    }
}
