//! `converter train`: load the data, evaluate on a hold-out split or by k-fold
//! cross-validation, export ONNX, and check that tract, loading the file the way the
//! function does, predicts what linfa predicts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use model::{Batch, Labels, Model, Predicted};
use serde::Serialize;

use crate::data::csv::{self, Columns};
use crate::data::{ClassLabels, Table};
use crate::evaluate::{Confusion, Evaluation};
use crate::progress::Progress;
use crate::train::{self, ForestParams, LogisticParams, TrainError, Trained};

/// The kinds of model `train` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Random forest: bagged CART decision trees, exported as an ai.onnx.ml
    /// TreeEnsembleClassifier.
    Forest,
    /// One CART decision tree on all rows and features (no bagging), exported as
    /// a one-tree TreeEnsembleClassifier.
    Tree,
    /// Multinomial logistic regression (linfa-logistic) on standardised features,
    /// exported as an ai.onnx.ml LinearClassifier that takes raw features.
    Logistic,
}

/// Flags of `converter train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// CSV file to train on: a header row, numeric feature columns and a class column
    /// (integers or names) [default: the bundled Iris data set].
    #[arg(long, value_name = "FILE.csv", requires = "target")]
    pub data: Option<PathBuf>,

    /// Name of the CSV column holding the classes [required with --data].
    #[arg(long, value_name = "COLUMN", requires = "data")]
    pub target: Option<String>,

    /// Feature columns to train on, comma separated, in the order the model will take
    /// them [default: every column except the target, in file order].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', requires = "data")]
    pub features: Option<Vec<String>>,

    /// Model to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Forest)]
    pub model: ModelKind,

    /// Number of trees in the forest.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,

    /// Maximum depth of each tree (forest, tree) [default: unlimited, grow until pure].
    #[arg(long)]
    pub max_depth: Option<usize>,

    /// A tree node with fewer training rows than this is not split (forest, tree).
    #[arg(long, default_value_t = 2)]
    pub min_samples_split: usize,

    /// A split must leave at least this many training rows on each side (forest, tree).
    #[arg(long, default_value_t = 1)]
    pub min_samples_leaf: usize,

    /// Share of the features each forest tree is grown on, drawn per tree without
    /// replacement, in (0, 1].
    #[arg(long, alias = "max-features", default_value_t = 1.0)]
    pub feature_fraction: f64,

    /// Rows drawn with replacement for each forest tree, as a share of the training
    /// rows, in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub bootstrap_fraction: f64,

    /// L2 regularisation strength of the logistic regression (on standardised features).
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,

    /// Maximum L-BFGS iterations of the logistic regression.
    #[arg(long, default_value_t = 200)]
    pub max_iterations: u64,

    /// Seed for the split, the folds and the bootstrap draws: same data, flags and seed,
    /// same ONNX bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Share of the rows held out for evaluation; the exported model is trained on the
    /// rest, so the numbers describe exactly that model.
    #[arg(long, default_value_t = 0.2, conflicts_with = "folds")]
    pub test_fraction: f64,

    /// Evaluate by K-fold cross-validation instead of a hold-out split; the exported
    /// model is then trained on every row [default: off, use --test-fraction].
    #[arg(long, value_name = "K")]
    pub folds: Option<usize>,

    /// Print a JSON report on stdout instead of text.
    #[arg(long, default_value_t = false)]
    pub json: bool,

    /// Where to write the ONNX file [default: <data file stem>-<model>.onnx, or
    /// iris-<model>.onnx].
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

impl TrainArgs {
    fn forest_params(&self) -> ForestParams {
        ForestParams {
            trees: self.trees,
            max_depth: self.max_depth,
            min_samples_split: self.min_samples_split,
            min_samples_leaf: self.min_samples_leaf,
            bootstrap_proportion: self.bootstrap_fraction,
            feature_proportion: self.feature_fraction,
            seed: self.seed,
        }
    }

    fn logistic_params(&self) -> LogisticParams {
        LogisticParams {
            alpha: self.alpha,
            max_iterations: self.max_iterations,
        }
    }

    /// Checks the flags that clap cannot, before any work starts.
    fn check(&self) -> anyhow::Result<()> {
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            anyhow::bail!(
                "--test-fraction must be between 0 and 1 (exclusive), got {}",
                self.test_fraction
            );
        }
        if self.folds.is_some_and(|k| k < 2) {
            anyhow::bail!("--folds must be at least 2");
        }
        match self.model {
            ModelKind::Forest | ModelKind::Tree => self.forest_params().check()?,
            ModelKind::Logistic => self.logistic_params().check()?,
        }
        Ok(())
    }

    fn output_path(&self) -> PathBuf {
        if let Some(output) = &self.output {
            return output.clone();
        }
        let stem = self
            .data
            .as_deref()
            .and_then(Path::file_stem)
            .map_or("iris".into(), |s| s.to_string_lossy().into_owned());
        let kind = match self.model {
            ModelKind::Forest => "forest",
            ModelKind::Tree => "tree",
            ModelKind::Logistic => "logistic",
        };
        PathBuf::from(format!("{stem}-{kind}.onnx"))
    }
}

/// What `train` produced, for callers that want the model and the numbers.
pub struct TrainOutcome {
    /// The exported model.
    pub trained: Trained,
    /// The ONNX file's bytes.
    pub onnx: Vec<u8>,
    /// Every row of the data.
    pub table: Table,
    /// The rows the exported model was trained on.
    pub train: Table,
    /// The hold-out rows (none with cross-validation).
    pub test: Table,
    /// How well the model does on rows it did not see.
    pub evaluation: Evaluation,
}

/// Loads the data, evaluates, trains and exports, writing nothing.
pub fn train(args: &TrainArgs) -> anyhow::Result<TrainOutcome> {
    args.check()?;
    let table = match (&args.data, &args.target) {
        (Some(path), Some(target)) => {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let progress = Progress::new("reading", size, size);
            let table = csv::load_table(
                path,
                Columns {
                    target: Some(target),
                    features: args.features.as_deref(),
                },
                &progress,
            )?;
            progress.finish();
            table
        }
        _ => Table::iris(),
    };
    let class_names = table.class_names.clone();
    let n_classes = class_names.len();
    let fits = 1 + args.folds.unwrap_or(0);
    let progress = match args.model {
        ModelKind::Forest => {
            let work =
                (table.len() as f64 * args.bootstrap_fraction) as u64 * (args.trees * fits) as u64;
            Progress::new("training", (args.trees * fits) as u64, work)
        }
        _ => Progress::hidden(),
    };
    let fit = |rows: &Table| -> Result<Trained, TrainError> {
        match args.model {
            ModelKind::Forest => train::train_forest(rows, &args.forest_params(), &progress),
            ModelKind::Tree => train::train_tree(rows, &args.forest_params()),
            ModelKind::Logistic => train::train_logistic(rows, &args.logistic_params()),
        }
    };
    let outcome = match args.folds {
        None => {
            let (train, test) = table.split(args.test_fraction, args.seed);
            let trained = fit(&train)?;
            let confusion =
                Confusion::from_pairs(n_classes, &test.targets, &trained.predict(&test.records));
            let method = format!(
                "hold-out {} of {} rows (--test-fraction {}, seed {}), model trained on the other {}",
                test.len(),
                table.len(),
                args.test_fraction,
                args.seed,
                train.len()
            );
            let evaluation = Evaluation::new(method, &confusion, &class_names);
            let onnx = crate::onnx::encode(&crate::export(&trained, &table));
            TrainOutcome {
                trained,
                onnx,
                table,
                train,
                test,
                evaluation,
            }
        }
        Some(k) => {
            if k > table.len() {
                anyhow::bail!("--folds {k} is more than the {} rows", table.len());
            }
            let mut confusion = Confusion::new(n_classes);
            let mut fold_accuracy = Vec::with_capacity(k);
            let folds = table.folds(k, args.seed);
            for (i, fold) in folds.iter().enumerate() {
                let rest: Vec<usize> = folds
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, f)| f.iter().copied())
                    .collect();
                let held_out = table.select(fold);
                let trained = fit(&table.select(&rest))
                    .with_context(|| format!("cross-validation fold {}", i + 1))?;
                let predicted = trained.predict(&held_out.records);
                let fold_confusion =
                    Confusion::from_pairs(n_classes, &held_out.targets, &predicted);
                fold_accuracy.push(fold_confusion.correct() as f64 / fold.len() as f64);
                confusion.add_all(&held_out.targets, &predicted);
            }
            let method = format!(
                "{k}-fold cross-validation over {} rows (seed {}), model trained on every row",
                table.len(),
                args.seed
            );
            let mut evaluation = Evaluation::new(method, &confusion, &class_names);
            evaluation.fold_accuracy = fold_accuracy;
            let trained = fit(&table)?;
            let onnx = crate::onnx::encode(&crate::export(&trained, &table));
            TrainOutcome {
                trained,
                onnx,
                train: table.clone(),
                test: table.select(&[]),
                table,
                evaluation,
            }
        }
    };
    progress.finish();
    Ok(outcome)
}

/// The machine-readable report of `train --json`.
#[derive(Serialize)]
struct Report<'a> {
    data: DataSummary<'a>,
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
    let agreeing = tract_agreement(&outcome.onnx, &outcome.trained, table)?;
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
                class_names: &table.class_names,
                class_counts: table.class_counts(),
                string_labels: matches!(table.labels, ClassLabels::Str(_)),
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
    println!(
        "data: {source}, {} rows, {} features, {} classes ({})",
        table.len(),
        table.n_features(),
        table.class_names.len(),
        table.class_names.join(", ")
    );
    println!("{}", outcome.evaluation.to_text());
    println!(
        "tract check: the exported model predicts the trained model's class on {agreeing} of {} rows",
        table.len()
    );
    println!("wrote {} ({} bytes)", output.display(), outcome.onnx.len());
    Ok(())
}

/// Loads `onnx` with the function's runtime and counts the rows of `table` on which it
/// predicts the class linfa predicts (labels compared through `table.labels`).
pub fn tract_agreement(onnx: &[u8], trained: &Trained, table: &Table) -> anyhow::Result<usize> {
    let model = Model::from_bytes(onnx).context("tract cannot load the exported model")?;
    let values: Vec<f32> = table.records.iter().copied().collect();
    let prediction = model.predict(&Batch::new(values, table.n_features()))?;
    let expected = trained.predict(&table.records);
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
