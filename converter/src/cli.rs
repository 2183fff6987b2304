//! The `converter` command line: `train` fits a model on a data set, reports its hold-out
//! accuracy, writes the ONNX file and checks that tract, loading that file the way the
//! function does, predicts what linfa predicts.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use function::model::{Batch, Labels, Model, Predicted};

use crate::data::Table;
use crate::train::{self, ForestParams, LogisticParams, Trained};

/// Train tabular classifiers with linfa and export them as standard ONNX.
#[derive(Debug, Parser)]
#[command(name = "converter", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The converter's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train on the bundled Iris data (80/20 split), print the hold-out accuracy and
    /// write an ONNX model.
    Train(TrainArgs),
}

/// The kinds of model `train` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// Random forest: bagged linfa-trees decision trees, exported as an ai.onnx.ml
    /// TreeEnsembleClassifier.
    Forest,
    /// Multinomial logistic regression (linfa-logistic), exported as an ai.onnx.ml
    /// LinearClassifier.
    Logistic,
}

/// Flags of `converter train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Forest)]
    pub model: ModelKind,

    /// Number of trees in the forest.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,

    /// Maximum depth of each tree [default: unlimited, grow until pure].
    #[arg(long)]
    pub max_depth: Option<usize>,

    /// L2 regularisation strength of the logistic regression.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,

    /// Maximum L-BFGS iterations of the logistic regression.
    #[arg(long, default_value_t = 200)]
    pub max_iterations: u64,

    /// Seed for the split and the bootstrap draws: same seed, same ONNX bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Fraction of the rows held out for evaluation.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,

    /// Where to write the ONNX file [default: iris-forest.onnx or iris-logistic.onnx].
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train_command(&args),
    }
}

/// What `train` produced, for callers that want the model and the numbers.
pub struct TrainOutcome {
    /// The fitted model.
    pub trained: Trained,
    /// The ONNX file's bytes.
    pub onnx: Vec<u8>,
    /// The training rows.
    pub train: Table,
    /// The hold-out rows.
    pub test: Table,
}

/// Trains and exports without touching the file system.
pub fn train(args: &TrainArgs) -> anyhow::Result<TrainOutcome> {
    if !(args.test_fraction > 0.0 && args.test_fraction < 1.0) {
        anyhow::bail!(
            "--test-fraction must be between 0 and 1 (exclusive), got {}",
            args.test_fraction
        );
    }
    let table = Table::iris();
    let (train, test) = table.split(args.test_fraction, args.seed);
    let trained = match args.model {
        ModelKind::Forest => train::train_forest(
            &train,
            &ForestParams {
                trees: args.trees,
                max_depth: args.max_depth,
                seed: args.seed,
                ..ForestParams::default()
            },
        )?,
        ModelKind::Logistic => train::train_logistic(
            &train,
            &LogisticParams {
                alpha: args.alpha,
                max_iterations: args.max_iterations,
            },
        )?,
    };
    let onnx = crate::onnx::encode(&crate::export(&trained, &table));
    Ok(TrainOutcome {
        trained,
        onnx,
        train,
        test,
    })
}

fn train_command(args: &TrainArgs) -> anyhow::Result<()> {
    let outcome = train(args)?;
    let default_name = match args.model {
        ModelKind::Forest => "iris-forest.onnx",
        ModelKind::Logistic => "iris-logistic.onnx",
    };
    let output = args.output.clone().unwrap_or_else(|| default_name.into());
    println!(
        "data: iris, {} training rows, {} hold-out rows, {} features",
        outcome.train.len(),
        outcome.test.len(),
        outcome.train.n_features()
    );
    println!(
        "hold-out accuracy: {:.4} ({} of {})",
        outcome.trained.accuracy(&outcome.test),
        correct(&outcome.trained, &outcome.test),
        outcome.test.len()
    );
    let agreement = tract_agreement(&outcome.onnx, &outcome.trained, &outcome.test)?;
    println!(
        "tract check: the exported model predicts linfa's class on {agreement} of {} hold-out rows",
        outcome.test.len()
    );
    std::fs::write(&output, &outcome.onnx)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!("wrote {} ({} bytes)", output.display(), outcome.onnx.len());
    Ok(())
}

fn correct(trained: &Trained, table: &Table) -> usize {
    let predicted = trained.predict(&table.records);
    predicted
        .iter()
        .zip(&table.targets)
        .filter(|(p, t)| p == t)
        .count()
}

/// Loads `onnx` with the function's runtime and counts the rows of `table` on which it
/// predicts the class linfa predicts.
pub fn tract_agreement(onnx: &[u8], trained: &Trained, table: &Table) -> anyhow::Result<usize> {
    let model = Model::from_bytes(onnx).context("tract cannot load the exported model")?;
    let values: Vec<f32> = table.records.iter().copied().collect();
    let prediction = model.predict(&Batch::new(values, table.n_features()))?;
    let Predicted::Labels(Labels::Int(labels)) = prediction.predicted else {
        anyhow::bail!("the exported model has string labels; expected class indices");
    };
    let expected = trained.predict(&table.records);
    Ok(labels
        .iter()
        .zip(&expected)
        .filter(|(got, want)| **got == **want as i64)
        .count())
}
