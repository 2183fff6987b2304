//! `converter annotate`: write into a tree-ensemble or linear ONNX file (skl2onnx's,
//! onnxmltools', any) what explanations need from the training rows. ONNX tree
//! ensembles do not say how many training rows reached each node: passing the rows
//! through the trees counts them (covers). Linear models do not carry their features'
//! training means: the rows give them. Either goes in `metadata_props`, so the file
//! stays valid for the `onnx` checker and every runtime, and answers exactly as before.

use std::path::PathBuf;

use anyhow::Context;
use model::explain::{annotation, explained_node, COVERS_KEY};
use model::{ElementType, Model};
use prost::Message;
use tract_onnx::pb::{ModelProto, StringStringEntryProto};

use super::verify::read_model_rows;
use crate::data::csv::Columns;
use crate::data::Parsing;

/// Flags of `converter annotate`.
#[derive(Debug, clap::Args)]
pub struct AnnotateArgs {
    /// The ONNX file: a graph with one tree ensemble or one linear model
    /// (LinearClassifier, LinearRegressor) reading its one float input (what the
    /// converter, skl2onnx and onnxmltools export for a forest, a booster, a linear or a
    /// logistic regression alone).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,

    /// CSV file of the rows the model was trained on (a header row, the feature columns;
    /// other columns are ignored when --features or the model's metadata name them).
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,

    /// Column holding the target, to leave out [default: the one column that is not a
    /// feature, when the model names its features in its metadata].
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,

    /// Feature columns, comma separated, in the model's input order [default: the
    /// model's `feature_names` metadata, else every column except the target].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub features: Option<Vec<String>>,

    /// Where to write the annotated model (may be MODEL.onnx itself).
    #[arg(short, long, value_name = "OUT.onnx")]
    pub output: PathBuf,
}

/// Runs `converter annotate`.
pub fn annotate_command(args: &AnnotateArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let model = Model::from_bytes(&bytes)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let proto = ModelProto::decode(&bytes[..])
        .with_context(|| format!("cannot decode {}", args.model.display()))?;
    let graph = proto.graph.as_ref().context("the file has no graph")?;
    let (node, _) =
        explained_node(graph).map_err(|why| anyhow::anyhow!("{}: {why}", args.model.display()))?;
    let input = match model.info().positional() {
        Some(input) if input.element == ElementType::F32 => input.clone(),
        _ => anyhow::bail!("{} does not take one float input", args.model.display()),
    };

    let features = args
        .features
        .clone()
        .or_else(|| model.info().feature_names.clone());
    let parsing = Parsing {
        infer_categorical: false,
        ..Parsing::default()
    };
    let columns = Columns {
        target: args.target.as_deref(),
        features: features.as_deref(),
    };
    let raw = read_model_rows(&args.data, columns, &parsing, Some(input.width))?;
    let rows = raw.records.as_standard_layout();
    let values = rows.as_slice().expect("a standard layout is contiguous");
    let (key, value) = annotation(node, values, input.width).map_err(anyhow::Error::msg)?;

    let annotated = with_metadata(&bytes, key, &value)
        .with_context(|| format!("cannot rewrite {}", args.model.display()))?;
    let check = Model::from_bytes(&annotated).context("the annotated model does not load")?;
    if let Err(why) = check.explainer() {
        anyhow::bail!("the annotated model cannot explain: {why}");
    }
    std::fs::write(&args.output, &annotated)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let what = match key {
        COVERS_KEY => "covers of",
        _ => "means of",
    };
    println!(
        "wrote {} ({} bytes): {what} {} {} over the {} rows of {}",
        args.output.display(),
        annotated.len(),
        value.split_ascii_whitespace().count(),
        match key {
            COVERS_KEY => "nodes",
            _ => "features",
        },
        raw.records.nrows(),
        args.data.display()
    );
    Ok(())
}

/// `model` (an encoded ModelProto) with `metadata_props[key] = value`: every top-level
/// field copied byte for byte but an earlier entry for `key`, the entry appended. The
/// file is not decoded and re-encoded: tract's protobuf types do not know every ONNX
/// field (a ZipMap's sequence-of-maps output type, for one), and a re-encoded file would
/// lose them.
fn with_metadata(model: &[u8], key: &str, value: &str) -> anyhow::Result<Vec<u8>> {
    use prost::encoding::{decode_key, decode_varint, message, WireType};
    /// `ModelProto.metadata_props`.
    const METADATA_PROPS: u32 = 14;
    let mut annotated = Vec::with_capacity(model.len() + value.len() + 64);
    let mut rest = model;
    while !rest.is_empty() {
        let field_start = rest;
        let (tag, wire_type) = decode_key(&mut rest)?;
        let length = match wire_type {
            WireType::Varint => {
                decode_varint(&mut rest)?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => usize::try_from(decode_varint(&mut rest)?)?,
            other => anyhow::bail!("field {tag} has the unsupported wire type {other:?}"),
        };
        anyhow::ensure!(
            rest.len() >= length,
            "field {tag} runs past the end of the file"
        );
        let (payload, after) = rest.split_at(length);
        rest = after;
        let field = &field_start[..field_start.len() - rest.len()];
        let replaced = tag == METADATA_PROPS
            && wire_type == WireType::LengthDelimited
            && StringStringEntryProto::decode(payload).is_ok_and(|entry| entry.key == key);
        if !replaced {
            annotated.extend_from_slice(field);
        }
    }
    let entry = StringStringEntryProto {
        key: key.to_string(),
        value: value.to_string(),
    };
    message::encode(METADATA_PROPS, &entry, &mut annotated);
    Ok(annotated)
}
