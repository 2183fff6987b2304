//! Criterion benchmark of our tree-ensemble op against tract 0.23's built-in one, each
//! through a whole optimised tract plan with a reused run state, and of our op as the
//! function serves it (`Model::predict`: the op called directly when the graph allows,
//! tract's plan otherwise), on the bundled Iris forest and on any ONNX files listed in
//! `TREE_BENCH_MODELS` (comma-separated, relative to the repository root or absolute;
//! `bench/tree_models.py make` writes a 500-tree forest, `make-iris` the tutorial's
//! scikit-learn Iris forest, `bench/boosted_models.py make` the boosted models, and
//! `bench/tree_models.py time` times ONNX Runtime on the same files and rows):
//!
//! ```text
//! env -u RUST_BACKTRACE \
//!     TREE_BENCH_MODELS=target/bench/iris-sklearn.onnx,target/bench/rf500.onnx \
//!     cargo bench -p model --bench tree_ensemble
//! ```
//!
//! `TREE_BENCH_ROWS=mean,sd` draws the rows from another normal distribution (see
//! [`rows`]). Groups are `<model>/batch-<rows>` with a per-row throughput, labels `model`
//! (`Model::predict`), `ours` and `tract-0.23` (the two plans), and
//! `<model>/batch-1-varied` (`Model::predict`, a different row each call); `load/<model>` times
//! reading and optimising the bundled model and each listed one. tract's op builds an
//! error value at every leaf, with a backtrace when RUST_BACKTRACE is set: run with it
//! unset. Its cost grows with the leaf
//! count of the whole ensemble (seconds per row on the 500-tree forest: BENCHMARKS.md,
//! "2026-11-27: the first kernel"), so it is only timed on ensembles of up to
//! [`BUILTIN_LEAF_LIMIT`] leaves, and only on the graphs it can build (it has no
//! TreeEnsembleRegressor, and refuses onnxmltools' XGBoost export).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use model::{onnx_loader, Batch, Model, BUNDLED_MODEL};
use tract_onnx::pb::{tensor_shape_proto::dimension::Value as Dim, type_proto};
use tract_onnx::prelude::*;

/// Above this many leaves, tract's op is too slow to time.
const BUILTIN_LEAF_LIMIT: usize = 50_000;

/// Batch sizes timed: one request's row, and a large batch.
const BATCHES: [usize; 2] = [1, 1000];

/// A model under test: as the function loads it, its runnable plans, and the width of
/// its rows.
struct Subject {
    name: String,
    model: Model,
    ours: Arc<TypedSimplePlan>,
    builtin: Option<Arc<TypedSimplePlan>>,
    width: usize,
}

fn subject(name: &str, bytes: &[u8]) -> Subject {
    let ours = onnx_loader();
    let proto = ours.proto_model_for_read(&mut &bytes[..]).unwrap();
    let graph = proto.graph.as_ref().unwrap();
    let Some(type_proto::Value::TensorType(input)) = graph.input[0]
        .r#type
        .as_ref()
        .and_then(|t| t.value.as_ref())
    else {
        panic!("{name}: the input is a tensor")
    };
    let Some(Dim::DimValue(width)) = input.shape.as_ref().unwrap().dim[1].value else {
        panic!("{name}: the input has a fixed width")
    };
    let width = width as usize;
    let leaves: usize = graph
        .node
        .iter()
        .flat_map(|node| &node.attribute)
        .filter(|a| a.name == "nodes_modes")
        .map(|a| a.strings.iter().filter(|m| m.as_slice() == b"LEAF").count())
        .sum();
    let plan = |onnx: &tract_onnx::Onnx| -> TractResult<Arc<TypedSimplePlan>> {
        let mut model = onnx.model_for_proto_model(&proto)?;
        let n = model.symbols.sym("N");
        model.set_input_fact(0, f32::fact(&[n.to_dim(), width.to_dim()]).into())?;
        model.into_optimized()?.into_runnable()
    };
    // tract's op is a comparison where it builds, not a requirement.
    let builtin = (leaves <= BUILTIN_LEAF_LIMIT)
        .then(|| plan(&tract_onnx::onnx()))
        .and_then(|built| {
            built
                .map_err(|e| eprintln!("{name}: tract 0.23's op not timed: {e:#}"))
                .ok()
        });
    Subject {
        name: name.to_string(),
        model: Model::from_bytes(bytes).unwrap(),
        ours: plan(&ours).unwrap(),
        builtin,
        width,
    }
}

/// `rows x width` values drawn from N(3, 2), which crosses the splits of both the Iris
/// forest and the synthetic one, or from N(mean, sd) when `TREE_BENCH_ROWS` is
/// `mean,sd` (the boosted models were trained on values around N(0, 1); rows far from
/// them take the same extreme branches every time, which flatters branchy walks such
/// as onnxruntime's). A small LCG with Box-Muller: no dependency, the same rows every
/// run.
fn rows(rows: usize, width: usize) -> Tensor {
    let (mean, sd) = match std::env::var("TREE_BENCH_ROWS") {
        Ok(spec) => {
            let (mean, sd) = spec.split_once(',').expect("TREE_BENCH_ROWS is mean,sd");
            (mean.parse().unwrap(), sd.parse().unwrap())
        }
        Err(_) => (3.0, 2.0),
    };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let values: Vec<f32> = (0..rows * width)
        .map(|_| {
            let normal =
                (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            (mean + sd * normal) as f32
        })
        .collect();
    Tensor::from_shape(&[rows, width], &values).unwrap()
}

/// The files listed in `TREE_BENCH_MODELS`: (name, bytes).
fn listed_models() -> Vec<(String, Vec<u8>)> {
    std::env::var("TREE_BENCH_MODELS")
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|path| {
            // cargo runs benches in the package directory; paths are the repository root's.
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let bytes = std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            let name = std::path::Path::new(path)
                .file_stem()
                .map_or(path.to_string(), |s| s.to_string_lossy().into_owned());
            (name, bytes)
        })
        .collect()
}

fn subjects() -> Vec<Subject> {
    let mut subjects = vec![subject("iris-forest", BUNDLED_MODEL)];
    for (name, bytes) in listed_models() {
        subjects.push(subject(&name, &bytes));
    }
    subjects
}

fn tree_ensembles(c: &mut Criterion) {
    for subject in subjects() {
        for n in BATCHES {
            let mut group = c.benchmark_group(format!("{}/batch-{n}", subject.name));
            group.throughput(Throughput::Elements(n as u64));
            let input = rows(n, subject.width);
            let batch = Batch::new(
                input
                    .try_as_plain_ram()
                    .unwrap()
                    .as_slice::<f32>()
                    .unwrap()
                    .to_vec(),
                subject.width,
            );
            group.bench_function("model", |b| {
                b.iter(|| subject.model.predict(&batch).unwrap())
            });
            let plans = [
                ("ours", Some(&subject.ours)),
                ("tract-0.23", subject.builtin.as_ref()),
            ];
            for (label, plan) in plans {
                let Some(plan) = plan else { continue };
                let mut state = plan.spawn().unwrap();
                // The input copy is setup, not measured: the function builds its input
                // tensor from the decoded request either way.
                group.bench_function(label, |b| {
                    b.iter_batched(
                        || tvec!(input.clone().into_tvalue()),
                        |inputs| state.run(inputs).unwrap(),
                        BatchSize::SmallInput,
                    )
                });
            }
            group.finish();
        }
        varied_rows(c, &subject);
    }
}

/// How many distinct rows `batch-1-varied` cycles through.
const VARIED_ROWS: usize = 1024;

/// One row per call as `batch-1` does, but a different row each call, as a served
/// function sees them: a walk that repeats one row's branches is predicted by the CPU,
/// and its nodes stay in cache, which flatters branchy walks.
fn varied_rows(c: &mut Criterion, subject: &Subject) {
    let input = rows(VARIED_ROWS, subject.width);
    let values = input.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap();
    let batches: Vec<Batch> = values
        .chunks(subject.width)
        .map(|row| Batch::new(row.to_vec(), subject.width))
        .collect();
    let mut group = c.benchmark_group(format!("{}/batch-1-varied", subject.name));
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("model", |b| {
        b.iter(|| {
            next = (next + 1) % VARIED_ROWS;
            subject.model.predict(&batches[next]).unwrap()
        })
    });
    group.finish();
}

/// Load + optimise, as the function starts: the bundled model and every listed one.
fn load(c: &mut Criterion) {
    c.bench_function("load/iris-forest", |b| {
        b.iter(|| Model::from_bytes(BUNDLED_MODEL).unwrap())
    });
    for (name, bytes) in listed_models() {
        c.bench_function(&format!("load/{name}"), |b| {
            b.iter(|| Model::from_bytes(&bytes).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    // Short runs: the machine is shared, and the differences that matter here are
    // factors, not percents.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = tree_ensembles, load
}
criterion_main!(benches);
