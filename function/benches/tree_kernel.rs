//! Model time per row: our tree-ensemble op against tract 0.23's built-in one, on the
//! bundled Iris forest, through the same tract plan (`cargo bench -p function --bench
//! tree_kernel`). Plain timing loops: each figure is the median of 9 runs. tract's op
//! builds an error value at every leaf, with a backtrace when RUST_BACKTRACE is set:
//! run it with RUST_BACKTRACE unset.

use std::time::{Duration, Instant};

use function::model::{onnx_loader, BUNDLED_MODEL};
use tract_onnx::prelude::*;

fn plan(onnx: &tract_onnx::Onnx) -> Arc<TypedSimplePlan> {
    let proto = onnx.proto_model_for_read(&mut &BUNDLED_MODEL[..]).unwrap();
    let mut model = onnx.model_for_proto_model(&proto).unwrap();
    let n = model.symbols.sym("N");
    model
        .set_input_fact(0, f32::fact(&[n.to_dim(), 4.to_dim()]).into())
        .unwrap();
    model.into_optimized().unwrap().into_runnable().unwrap()
}

/// Median time per row of predicting `rows` rows at once.
fn per_row(plan: &Arc<TypedSimplePlan>, rows: usize, reuse_state: bool) -> Duration {
    // Iris-like rows spread over the feature ranges so trees take different paths.
    let data: Vec<f32> = (0..rows * 4)
        .map(|i| {
            let (lo, hi) = [(4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5)][i % 4];
            lo + (hi - lo) * (((i * 7919) % 1000) as f32 / 1000.0)
        })
        .collect();
    let input = Tensor::from_shape(&[rows, 4], &data).unwrap();
    let iterations = (2_000 / rows).max(3);
    let mut state = plan.spawn().unwrap();
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
            start.elapsed() / (iterations * rows) as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let ours = plan(&onnx_loader());
    let builtin = plan(&tract_onnx::onnx());
    println!("bundled Iris forest (100 trees), time per row, median of 9 runs");
    println!(
        "{:>6}  {:>12}  {:>14}  {:>12}  {:>8}",
        "batch", "ours", "ours, reused", "tract 0.23", "speed-up"
    );
    for rows in [1, 10, 100, 1000] {
        let a = per_row(&ours, rows, false);
        let reused = per_row(&ours, rows, true);
        let b = per_row(&builtin, rows, false);
        println!(
            "{rows:>6}  {:>12?}  {:>14?}  {:>12?}  {:>7.1}x",
            a,
            reused,
            b,
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
}
