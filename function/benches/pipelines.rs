//! Criterion benchmark of the models users bring (issue 18), for the side-by-side with
//! ONNX Runtime that `bench/pipelines_side_by_side.sh` prints: each interop-corpus file
//! listed in `PIPELINE_BENCH_MODELS` (comma-separated `.onnx` paths, relative to the
//! repository root or absolute; the corpus JSON of the same stem beside each gives the
//! rows), at batch 1 and batch 1000:
//!
//! ```text
//! PIPELINE_BENCH_MODELS=target/interop-corpus/lightgbm-binary.onnx,... \
//!     cargo bench -p function --bench pipelines
//! ```
//!
//! - `<file>/batch-<n>`, `ours`: [`Model::predict`] on a [`Batch`] built beforehand from
//!   the corpus rows (the first row; for 1000, the rows cycled): the model alone, the
//!   work ONNX Runtime's `session.run` does on ready numpy arrays.
//! - `<file>-records/batch-<n>`, for a file whose rows are records (one graph input per
//!   column): `decode` is the `/predict` decoder on the bytes of the body
//!   `{"input": [{...}, ...]}` (JSON parse, records -> [`Batch`]); `decode-predict` is
//!   that plus [`Model::predict`], what a request costs before HTTP and the answer's
//!   encoding.
//!
//! Before timing, each file's labels on its corpus rows are checked against the ones
//! onnxruntime wrote into the corpus, so what is timed is a right answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use function::limits::DEFAULT_MAX_BATCH_ROWS;
use function::protocol::predict;
use model::{Batch, Column, Model, Predicted, Values};
use serde_json::{json, Value};

/// The environment variable listing the files.
const ENV_MODELS: &str = "PIPELINE_BENCH_MODELS";

/// Batch sizes timed: one request's row, and a large batch.
const BATCHES: [usize; 2] = [1, 1000];

/// A corpus file under test.
struct Subject {
    /// The file's stem, which names its benchmark groups.
    name: String,
    model: Model,
    /// The corpus's evaluation rows: arrays of values, or records by column name.
    rows: Vec<Value>,
}

impl Subject {
    /// The file at `path` and the rows of the corpus JSON beside it.
    fn load(path: &Path) -> Subject {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let corpus = path.with_extension("json");
        let text = std::fs::read_to_string(&corpus)
            .unwrap_or_else(|e| panic!("{}: {e} (the corpus JSON)", corpus.display()));
        let record: Value = serde_json::from_str(&text).expect("the corpus JSON parses");
        let Some(Value::Array(rows)) = record.get("rows").cloned() else {
            panic!("{}: no `rows` array", corpus.display())
        };
        let subject = Subject {
            name: path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into(),
            model,
            rows,
        };
        subject.check(&record["onnxruntime"]["labels"]);
        subject
    }

    /// Panics unless the model's labels for every corpus row are onnxruntime's (a
    /// regressor's file has none, and is not checked).
    fn check(&self, expected: &Value) {
        if expected.is_null() {
            return;
        }
        let answer = (self.model.predict(&self.batch(self.rows.len())))
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let Predicted::Labels(labels) = answer.predicted else {
            panic!("{}: a classifier's corpus rows got values", self.name)
        };
        assert_eq!(
            &serde_json::to_value(labels).expect("labels serialise"),
            expected,
            "{}: our labels differ from onnxruntime's",
            self.name
        );
    }

    /// The first `n` corpus rows, cycled when there are fewer.
    fn cycled(&self, n: usize) -> impl Iterator<Item = &Value> {
        self.rows.iter().cycle().take(n)
    }

    /// Whether the rows are records (one graph input per column).
    fn has_records(&self) -> bool {
        self.rows.first().is_some_and(Value::is_object)
    }

    /// `n` rows as the protocols would build them: a positional row is its single
    /// input's values in order; a record's values go to their inputs in the model's
    /// field order; `null` is NaN.
    fn batch(&self, n: usize) -> Batch {
        let info = self.model.info();
        let fields = info.fields();
        let mut columns: Vec<Values> = (info.inputs.iter())
            .map(|input| Values::with_capacity(input.element, n * input.width))
            .collect();
        for row in self.cycled(n) {
            match row {
                Value::Array(values) => {
                    assert_eq!(
                        values.len(),
                        info.inputs[0].width,
                        "{}: a row's width",
                        self.name
                    );
                    values.iter().for_each(|value| push(&mut columns[0], value));
                }
                Value::Object(record) => {
                    for field in &fields {
                        match &record[field.name] {
                            Value::Array(items) => items
                                .iter()
                                .for_each(|item| push(&mut columns[field.input], item)),
                            single => push(&mut columns[field.input], single),
                        }
                    }
                }
                _ => panic!("{}: a row is neither an array nor a record", self.name),
            }
        }
        let widths = info.inputs.iter().map(|input| input.width);
        let columns = (columns.into_iter().zip(widths)).map(|(v, w)| Column::new(v, w));
        Batch::from_columns(n, columns)
    }

    /// The `/predict` body of `n` records: `{"input": [{...}, ...]}`.
    fn records_body(&self, n: usize) -> Vec<u8> {
        let rows: Vec<&Value> = self.cycled(n).collect();
        serde_json::to_vec(&json!({ "input": rows })).expect("JSON values serialise")
    }
}

/// Appends one JSON value to a column of its input's type.
fn push(values: &mut Values, value: &Value) {
    match (values, value) {
        (Values::F32(v), Value::Null) => v.push(f32::NAN),
        (Values::F32(v), Value::Number(x)) => v.push(x.as_f64().expect("a number") as f32),
        (Values::I64(v), Value::Number(x)) => v.push(x.as_i64().expect("an int64")),
        (Values::Str(v), Value::String(s)) => v.push(s.clone()),
        (values, value) => panic!("{value} in a {:?} column", values.element()),
    }
}

/// The files listed in [`ENV_MODELS`]; cargo runs benches in the package directory,
/// and relative paths are the repository root's.
fn subjects() -> Vec<Subject> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let list = std::env::var(ENV_MODELS).unwrap_or_default();
    let paths: Vec<PathBuf> = (list.split(','))
        .filter(|p| !p.is_empty())
        .map(|p| root.join(p))
        .collect();
    if paths.is_empty() {
        eprintln!("{ENV_MODELS} lists no files: nothing to time");
    }
    paths.iter().map(|path| Subject::load(path)).collect()
}

fn models(c: &mut Criterion) {
    for subject in subjects() {
        for n in BATCHES {
            let batch = subject.batch(n);
            let mut group = c.benchmark_group(format!("{}/batch-{n}", subject.name));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function("ours", |b| {
                b.iter(|| subject.model.predict(&batch).expect("the batch fits"))
            });
            group.finish();
        }
        if subject.has_records() {
            records(c, &subject);
        }
    }
}

/// The records path of `subject`: decoding the body, then predicting.
fn records(c: &mut Criterion, subject: &Subject) {
    let info = subject.model.info();
    for n in BATCHES {
        let body = subject.records_body(n);
        let decode = || predict::decode(&body, info, DEFAULT_MAX_BATCH_ROWS).expect("decodes");
        // Debug, so that NaN (a missing value) equals NaN.
        assert_eq!(
            format!("{:?}", decode()),
            format!("{:?}", subject.batch(n)),
            "{}: the decoder builds the bench's batch",
            subject.name
        );
        let mut group = c.benchmark_group(format!("{}-records/batch-{n}", subject.name));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("decode", |b| b.iter(decode));
        group.bench_function("decode-predict", |b| {
            b.iter(|| subject.model.predict(&decode()).expect("the batch fits"))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs, as the tree-ensemble bench: the machine is shared, and the differences
    // that matter here are factors, not percents.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = models
}
criterion_main!(benches);
