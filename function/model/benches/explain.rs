//! Criterion benchmark of explanations (`Model::explain`, TreeSHAP): the bundled Iris
//! forest (which carries its covers) and any annotated ONNX files listed in
//! `EXPLAIN_BENCH_MODELS` (comma-separated, relative to the repository root or absolute;
//! `converter annotate` writes the covers), at
//! batch 1 and 1000, rows from N(0, 1) (or N(mean, sd) with `TREE_BENCH_ROWS=mean,sd`,
//! as the tree benchmark reads it). `bench/explain_side_by_side.sh` runs it with shap's
//! TreeExplainer on the same models and rows.
//!
//! ```text
//! EXPLAIN_BENCH_MODELS=target/bench/xgb500-annotated.onnx cargo bench -p model --bench explain
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use model::{Batch, Model, BUNDLED_MODEL};

/// `n x width` values from N(mean, sd): a small LCG with Box-Muller, the same every run.
fn rows(n: usize, width: usize) -> Vec<f32> {
    let (mean, sd) = match std::env::var("TREE_BENCH_ROWS") {
        Ok(spec) => {
            let (mean, sd) = spec.split_once(',').expect("TREE_BENCH_ROWS is mean,sd");
            (mean.parse().unwrap(), sd.parse().unwrap())
        }
        Err(_) => (0.0, 1.0),
    };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n * width)
        .map(|_| {
            let normal =
                (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            (mean + sd * normal) as f32
        })
        .collect()
}

fn explain(c: &mut Criterion) {
    let mut models = vec![("iris-forest".to_string(), BUNDLED_MODEL.to_vec())];
    if let Ok(list) = std::env::var("EXPLAIN_BENCH_MODELS") {
        // cargo runs benches in the package directory; paths are the repository root's.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for path in list.split(',').filter(|p| !p.is_empty()) {
            let path = root.join(path);
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            models.push((name, std::fs::read(path).unwrap()));
        }
    }
    for (name, bytes) in models {
        let model = Model::from_bytes(&bytes).unwrap();
        if let Err(why) = model.explainer() {
            panic!("{name}: {why}");
        }
        let width = model.n_features();
        for n in [1, 1000] {
            let batch = Batch::new(rows(n, width), width);
            let mut group = c.benchmark_group(format!("explain/{name}/batch-{n}"));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function("model", |b| b.iter(|| model.explain(&batch).unwrap()));
            group.finish();
        }
    }
}

criterion_group!(benches, explain);
criterion_main!(benches);
