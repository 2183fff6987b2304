//! The `converter` command line: `train` fits a model on a CSV file (or the bundled
//! Iris set), evaluates it and writes ONNX; `inspect` describes any ONNX file; `verify`
//! runs an ONNX file with the function's runtime against the labels of a CSV file;
//! `annotate` writes the node covers explanations need into a tree-ensemble file.

mod annotate;
mod train;
mod train_report;
mod verify;

pub use annotate::AnnotateArgs;
pub use train::{train, ModelKind, TaskKind, TrainArgs, TrainOutcome};
pub use train_report::tract_agreement;
pub use verify::{verify, Verified, VerifyArgs};

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Train tabular classifiers and regressors on your CSV data (numbers, categories,
/// missing cells), evaluate them, and export standard ONNX (ai.onnx.ml) that the
/// function and any ONNX runtime serve.
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
    /// Train a classifier or regressor on a CSV file (or the bundled Iris data), print
    /// its hold-out or cross-validated evaluation, and write it as ONNX.
    Train(TrainArgs),
    /// Describe an ONNX file: opsets, inputs and outputs, operators, metadata, and for
    /// tree ensembles the trees, nodes, leaves, depth, classes and features used.
    Inspect(InspectArgs),
    /// Run an ONNX classifier with the function's runtime (tract) on a CSV file (one
    /// float input, or one float or string input per column) and report how often it
    /// predicts the file's labels.
    Verify(VerifyArgs),
    /// Compute from a training CSV file what explanations (SHAP values) of an ONNX
    /// file's predictions need, and write it into a copy of the file: for a tree
    /// ensemble, how many rows reach each node (covers); for a linear or logistic model,
    /// each feature's mean. Any exporter's file (skl2onnx's, onnxmltools'); it answers
    /// exactly as before.
    Annotate(AnnotateArgs),
}

/// Flags of `converter inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The ONNX file to describe.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,

    /// Print JSON instead of text.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train_report::train_command(&args),
        Command::Inspect(args) => inspect_command(&args),
        Command::Verify(args) => verify::verify_command(&args),
        Command::Annotate(args) => annotate::annotate_command(&args),
    }
}

fn inspect_command(args: &InspectArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let summary = crate::inspect::inspect(&bytes)
        .with_context(|| format!("cannot inspect {}", args.model.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("file: {} ({} bytes)", args.model.display(), bytes.len());
        print!("{}", summary.to_text());
    }
    Ok(())
}
