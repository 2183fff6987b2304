//! `converter verify`: run an ONNX model with the function's own runtime (tract plus the
//! function's tree-ensemble ops) on the rows of a CSV file and compare its labels with
//! the file's, as agreement, per-class numbers and a confusion matrix.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use model::{Batch, ElementType, Labels, Model, Predicted, Task};
use serde::Serialize;

use crate::data::csv::{self, Columns};
use crate::evaluate::{Confusion, Evaluation};
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
    /// Rows whose predicted label is the file's, and all rows: the accuracy of the
    /// model on this file.
    pub evaluation: Evaluation,
}

/// Runs `args.model` on `args.data` and compares labels, writing nothing.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<Verified> {
    let model = Model::from_path(&args.model)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let info = model.info();
    let Task::Classifier { labels } = &info.task else {
        anyhow::bail!(
            "{} is a regressor ({}); verify compares class labels",
            args.model.display(),
            info.operator
        );
    };
    let Some(input) = info.positional().filter(|i| i.element == ElementType::F32) else {
        let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
        anyhow::bail!(
            "{} takes the inputs {names:?}; verify reads numeric CSV columns into one float \
             input",
            args.model.display()
        );
    };
    let width = input.width;
    let features = args.features.clone().or_else(|| info.feature_names.clone());
    let size = std::fs::metadata(&args.data).map_or(0, |m| m.len());
    let progress = Progress::new("reading", size, size);
    let raw = csv::read_path(
        &args.data,
        Columns {
            target: args.target.as_deref(),
            features: features.as_deref(),
        },
        &progress,
    )?;
    progress.finish();
    if raw.records.ncols() != width {
        anyhow::bail!(
            "{} has {} feature columns ({}), the model takes {}; choose them with --features",
            args.data.display(),
            raw.records.ncols(),
            raw.feature_names.join(", "),
            width
        );
    }

    // Class names: the model's labels in its order, then labels only the file has.
    let mut names: Vec<String> = match labels {
        Labels::Int(v) => v.iter().map(i64::to_string).collect(),
        Labels::Str(v) => v.clone(),
    };
    let int_labels = matches!(labels, Labels::Int(_));
    let normalise = |text: &str| match text.parse::<i64>() {
        // "07" in the file is the model's label 7.
        Ok(i) if int_labels => i.to_string(),
        _ => text.to_string(),
    };
    let mut file_only: Vec<String> = raw
        .target_values
        .iter()
        .map(|v| normalise(v))
        .filter(|v| !names.contains(v))
        .collect();
    file_only.sort_unstable();
    file_only.dedup();
    names.extend(file_only);
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let value_class: Vec<usize> = raw
        .target_values
        .iter()
        .map(|v| index[normalise(v).as_str()])
        .collect();

    let mut predicted = Vec::with_capacity(raw.targets.len());
    let values = raw
        .records
        .as_slice()
        .expect("records are in standard layout");
    for chunk in values.chunks(CHUNK_ROWS * width) {
        let prediction = model.predict(&Batch::new(chunk.to_vec(), width))?;
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
    let method = format!(
        "{} run with the function's runtime (tract) on the {} rows of {}, against column `{}`",
        args.model.display(),
        actual.len(),
        args.data.display(),
        raw.target_name
    );
    Ok(Verified {
        target: raw.target_name,
        features: raw.feature_names,
        evaluation: Evaluation::new(method, &confusion, &names),
    })
}

pub(super) fn verify_command(args: &VerifyArgs) -> anyhow::Result<()> {
    let verified = verify(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verified)?);
    } else {
        println!("features: {}", verified.features.join(", "));
        print!("{}", verified.evaluation.to_text());
        let e = &verified.evaluation;
        println!(
            "agreement with `{}`: {:.4} ({} of {} rows)",
            verified.target, e.accuracy, e.correct, e.rows
        );
    }
    Ok(())
}
