//! Model time per row: our tree-ensemble op against tract 0.23's built-in one, through
//! the same tract plan, on the bundled Iris forest and on any ONNX files listed in
//! `TREE_BENCH_MODELS` (comma-separated; `bench/tree_models.py make` writes a 500-tree
//! forest, and `bench/tree_models.py time` times ONNX Runtime on the same files):
//!
//! ```text
//! env -u RUST_BACKTRACE TREE_BENCH_MODELS=target/bench/rf500.onnx cargo bench -p function --bench tree_kernel
//! ```
//!
//! Plain timing loops, each figure the median of 9 runs. tract's op builds an error value
//! at every leaf, with a backtrace when RUST_BACKTRACE is set: run it unset. Its cost
//! grows with the leaf count of the whole ensemble, so on large forests it is timed at
//! batch 1 only.

use std::time::{Duration, Instant};

use function::model::{onnx_loader, BUNDLED_MODEL};
use tract_onnx::pb::{tensor_shape_proto::dimension::Value as Dim, type_proto};
use tract_onnx::prelude::*;

/// Above this many leaves, tract's op takes too long per row to time at batch 1000.
const BUILTIN_BATCH_LIMIT_LEAVES: usize = 50_000;

struct Plans {
    ours: Arc<TypedSimplePlan>,
    builtin: Arc<TypedSimplePlan>,
    width: usize,
    leaves: usize,
}

fn plans(bytes: &[u8]) -> Plans {
    let ours = onnx_loader();
    let proto = ours.proto_model_for_read(&mut &bytes[..]).unwrap();
    let graph = proto.graph.as_ref().unwrap();
    let Some(type_proto::Value::TensorType(input)) = graph.input[0]
        .r#type
        .as_ref()
        .and_then(|t| t.value.as_ref())
    else {
        panic!("the input is a tensor")
    };
    let Some(Dim::DimValue(width)) = input.shape.as_ref().unwrap().dim[1].value else {
        panic!("the input has a fixed width")
    };
    let width = width as usize;
    let leaves = graph.node[0]
        .attribute
        .iter()
        .find(|a| a.name == "nodes_modes")
        .map_or(0, |a| {
            a.strings.iter().filter(|m| m.as_slice() == b"LEAF").count()
        });
    let plan = |onnx: &tract_onnx::Onnx| {
        let mut model = onnx.model_for_proto_model(&proto).unwrap();
        let n = model.symbols.sym("N");
        model
            .set_input_fact(0, f32::fact(&[n.to_dim(), width.to_dim()]).into())
            .unwrap();
        model.into_optimized().unwrap().into_runnable().unwrap()
    };
    Plans {
        ours: plan(&ours),
        builtin: plan(&tract_onnx::onnx()),
        width,
        leaves,
    }
}

/// `rows x width` values drawn from N(3, 2), which crosses the splits of both the Iris
/// forest and the synthetic one (a small LCG with Box-Muller: no dependency, same rows
/// every run).
fn rows(rows: usize, width: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..rows * width)
        .map(|_| {
            let normal =
                (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            (3.0 + 2.0 * normal) as f32
        })
        .collect()
}

/// Median time per row of predicting `n` rows at once, with a new run state per call
/// (`plan.run`) or one reused state (what the function does).
fn per_row(plan: &Arc<TypedSimplePlan>, width: usize, n: usize, reuse_state: bool) -> Duration {
    let input = Tensor::from_shape(&[n, width], &rows(n, width)).unwrap();
    let mut state = plan.spawn().unwrap();
    // Enough calls for each sample to take ~20 ms (at least one).
    let once = Instant::now();
    plan.run(tvec!(input.clone().into_tvalue())).unwrap();
    let iterations = (0.02 / once.elapsed().as_secs_f64()).clamp(1.0, 10_000.0) as usize;
    let mut samples: Vec<Duration> = (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                let inputs = tvec!(input.clone().into_tvalue());
                if reuse_state {
                    std::hint::black_box(state.run(inputs).unwrap());
                } else {
                    std::hint::black_box(plan.run(inputs).unwrap());
                }
            }
            start.elapsed() / (iterations * n) as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let mut models = vec![("bundled Iris forest".to_string(), BUNDLED_MODEL.to_vec())];
    for path in std::env::var("TREE_BENCH_MODELS")
        .unwrap_or_default()
        .split(',')
    {
        if !path.is_empty() {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            models.push((path.to_string(), bytes));
        }
    }
    println!("time per row, median of 9 runs");
    println!(
        "{:<28} {:>6}  {:>12}  {:>14}  {:>12}  {:>8}",
        "model", "batch", "ours", "ours, reused", "tract 0.23", "speed-up"
    );
    for (name, bytes) in models {
        let plans = plans(&bytes);
        for n in [1, 10, 100, 1000] {
            let ours = per_row(&plans.ours, plans.width, n, false);
            let reused = per_row(&plans.ours, plans.width, n, true);
            let builtin = (n == 1 || plans.leaves <= BUILTIN_BATCH_LIMIT_LEAVES)
                .then(|| per_row(&plans.builtin, plans.width, n, false));
            let (builtin, ratio) = match builtin {
                Some(b) => (
                    format!("{b:?}"),
                    format!("{:.1}x", b.as_secs_f64() / ours.as_secs_f64()),
                ),
                None => ("-".to_string(), "-".to_string()),
            };
            println!("{name:<28} {n:>6}  {ours:>12?}  {reused:>14?}  {builtin:>12}  {ratio:>8}");
        }
    }
}
