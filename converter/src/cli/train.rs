//! `converter train`: its flags, then load the data, evaluate on a hold-out split or
//! by k-fold cross-validation, and export ONNX (`train_report` prints and checks it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use serde::Serialize;

use crate::data::columns::DEFAULT_NA;
use crate::data::csv::{self, Columns, TaskChoice};
use crate::data::{Parsing, Table};
use crate::evaluate::{Confusion, Evaluation};
use crate::evaluate_values::RegressionScores;
use crate::progress::Progress;
use crate::train::{self, Encoding, ForestParams, LogisticParams, TrainError, Trained};

/// The kinds of model `train` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Random forest: bagged CART decision trees, exported as an ai.onnx.ml
    /// TreeEnsembleClassifier (or TreeEnsembleRegressor for values).
    Forest,
    /// One CART decision tree on all rows and features (no bagging), exported as
    /// a one-tree TreeEnsembleClassifier.
    Tree,
    /// Multinomial logistic regression (linfa-logistic) on standardised features,
    /// exported as an ai.onnx.ml LinearClassifier that takes raw features.
    Logistic,
    /// Linear regression (ridge, --alpha, on standardised features), exported as an
    /// ai.onnx.ml LinearRegressor that takes raw features (regression only).
    Linear,
}

/// What the target column is for (`--task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Predict the target's class (forest, tree, logistic).
    Classification,
    /// Predict the target's value (forest, tree, linear), exported as an ai.onnx.ml
    /// TreeEnsembleRegressor or LinearRegressor.
    Regression,
}

/// Flags of `converter train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// CSV file to train on: a header row, feature columns (numbers or categories,
    /// cells may be missing) and a target column (classes: integers or names; or
    /// numbers for a regression) [default: the bundled Iris data set].
    #[arg(long, value_name = "FILE.csv", requires = "target")]
    pub data: Option<PathBuf>,

    /// Name of the CSV column holding the classes or values [required with --data].
    #[arg(long, value_name = "COLUMN", requires = "data")]
    pub target: Option<String>,

    /// Feature columns to train on, comma separated, in the order the model will take
    /// them [default: every column except the target, in file order].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', requires = "data")]
    pub features: Option<Vec<String>>,

    /// Columns to read as categorical (one-hot encoded in the exported graph, which
    /// then takes their raw strings), comma separated [default: every column with a
    /// cell that is neither a number nor missing].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', requires = "data")]
    pub categorical: Vec<String>,

    /// Columns that must be numeric: a cell that is not a number is an error [default:
    /// every column whose cells are all numbers or missing].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', requires = "data")]
    pub numeric: Vec<String>,

    /// Cell texts that mean a missing value, comma separated; the empty cell always
    /// does. Missing numbers get the column's training mean, in the exported graph too;
    /// a missing category is a category of its own (the empty string).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', default_values_t = DEFAULT_NA.map(String::from))]
    pub na: Vec<String>,

    /// What to predict [default: regression when every target is a number and there
    /// are more than 20 distinct ones, else classification].
    #[arg(long, value_enum, requires = "data")]
    pub task: Option<TaskKind>,

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

    /// Columns each split of a forest tree looks at, drawn anew at every node (as
    /// scikit-learn's `max_features`; counted after categories are one-hot encoded)
    /// [default: the square root of the columns for classes, every column for values].
    #[arg(long, value_name = "N")]
    pub split_features: Option<usize>,

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
            split_features: self.split_features,
            seed: self.seed,
        }
    }

    fn parsing(&self) -> Parsing {
        Parsing {
            na: self.na.clone(),
            categorical: self.categorical.clone(),
            numeric: self.numeric.clone(),
            infer_categorical: true,
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
            ModelKind::Logistic | ModelKind::Linear => self.logistic_params().check()?,
        }
        Ok(())
    }

    /// Where the ONNX file goes.
    pub(super) fn output_path(&self) -> PathBuf {
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
            ModelKind::Linear => "linear",
        };
        PathBuf::from(format!("{stem}-{kind}.onnx"))
    }
}

/// What `train` produced, for callers that want the model and the numbers.
pub struct TrainOutcome {
    /// The exported model, trained on the encoded rows.
    pub trained: Trained,
    /// The preprocessing learned on the training rows, written into the graph.
    pub encoding: Encoding,
    /// The ONNX file's bytes.
    pub onnx: Vec<u8>,
    /// Every row of the data, as read (before encoding).
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
                &args.parsing(),
                match args.task {
                    None => TaskChoice::Infer,
                    Some(TaskKind::Classification) => TaskChoice::Classification,
                    Some(TaskKind::Regression) => TaskChoice::Regression,
                },
                &progress,
            )?;
            progress.finish();
            table
        }
        _ => Table::iris(),
    };
    let regression = table.is_regression();
    match (regression, args.model) {
        (true, ModelKind::Logistic) => anyhow::bail!(
            "the target is numeric with many values, so this is a regression: use --model \
             forest, tree or linear, or --task classification to predict its values as classes"
        ),
        (false, ModelKind::Linear) => anyhow::bail!(
            "--model linear predicts values, and the target holds classes: use --model \
             logistic, or --task regression for a numeric target"
        ),
        _ => {}
    }
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
    // The encoding is learned on the rows the model is trained on, never on held-out rows.
    let fit = |rows: &Table| -> Result<(Encoding, Trained), TrainError> {
        let encoding = Encoding::fit(rows);
        let encoded = encoding.apply(rows);
        let trained = match args.model {
            ModelKind::Forest => train::train_forest(&encoded, &args.forest_params(), &progress),
            ModelKind::Tree => train::train_tree(&encoded, &args.forest_params()),
            ModelKind::Logistic => train::train_logistic(&encoded, &args.logistic_params()),
            ModelKind::Linear => {
                train::train_linear(&encoded, &encoded.values, args.alpha).map(Trained::Linear)
            }
        }?;
        Ok((encoding, trained))
    };
    let predict = |(encoding, trained): &(Encoding, Trained), rows: &Table| {
        trained.predict(&encoding.apply(rows).records)
    };
    let predict_values = |(encoding, trained): &(Encoding, Trained), rows: &Table| {
        trained.predict_values(&encoding.apply(rows).records)
    };
    let export = |(encoding, trained): &(Encoding, Trained), trained_on: &Table| {
        crate::export(trained, encoding, &table, trained_on)
            .map(|model| crate::onnx::encode(&model))
            .map_err(anyhow::Error::msg)
    };
    let outcome = match args.folds {
        None => {
            let (train, test) = table.split(args.test_fraction, args.seed);
            let fitted = fit(&train)?;
            let method = format!(
                "hold-out {} of {} rows (--test-fraction {}, seed {}), model trained on the other {}",
                test.len(),
                table.len(),
                args.test_fraction,
                args.seed,
                train.len()
            );
            let evaluation = if regression {
                let scores = RegressionScores::new(&test.values, &predict_values(&fitted, &test));
                Evaluation::of_values(method, test.len(), scores)
            } else {
                let predicted = predict(&fitted, &test);
                let confusion = Confusion::from_pairs(n_classes, &test.targets, &predicted);
                Evaluation::new(method, &confusion, &class_names)
            };
            let onnx = export(&fitted, &train)?;
            let (encoding, trained) = fitted;
            TrainOutcome {
                trained,
                encoding,
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
            let (mut actual, mut predicted_values, mut fold_r2) = (vec![], vec![], vec![]);
            let folds = table.folds(k, args.seed);
            for (i, fold) in folds.iter().enumerate() {
                let rest: Vec<usize> = folds
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, f)| f.iter().copied())
                    .collect();
                let held_out = table.select(fold);
                let fitted = fit(&table.select(&rest))
                    .with_context(|| format!("cross-validation fold {}", i + 1))?;
                if regression {
                    let values = predict_values(&fitted, &held_out);
                    fold_r2.push(RegressionScores::new(&held_out.values, &values).r2);
                    actual.extend_from_slice(&held_out.values);
                    predicted_values.extend(values);
                    continue;
                }
                let predicted = predict(&fitted, &held_out);
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
            let evaluation = if regression {
                let mut scores = RegressionScores::new(&actual, &predicted_values);
                scores.fold_r2 = fold_r2;
                Evaluation::of_values(method, actual.len(), scores)
            } else {
                let mut evaluation = Evaluation::new(method, &confusion, &class_names);
                evaluation.fold_accuracy = fold_accuracy;
                evaluation
            };
            let fitted = fit(&table)?;
            let onnx = export(&fitted, &table)?;
            let (encoding, trained) = fitted;
            TrainOutcome {
                trained,
                encoding,
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
