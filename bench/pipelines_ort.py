#!/usr/bin/env python3
"""ONNX Runtime's side of issue 18's benchmark (the models users bring): times
`session.run` (1 intra-op thread, sequential execution) on interop-corpus files, on the
rows the Rust bench (function/benches/pipelines.rs) times, and prints the side-by-side
table from both. bench/pipelines_side_by_side.sh drives it:

    python bench/pipelines_ort.py corpus DIR
    python bench/pipelines_ort.py time --out FILE.json DIR NAME...
    python bench/pipelines_ort.py table ROUND_DIR...

`corpus` (re)writes the corpus into DIR with tests/interop/corpus.py unless DIR was made
from the same inputs (the rule of test_models_users_bring.py's `corpus_dir`, so the
tests and the bench share one corpus). `time` runs DIR/NAME.onnx for each NAME on its
corpus rows: the first row for batch 1; for batch 1000, the rows cycled. Positional rows
are one float32 array [N, width] (NaN where the JSON says null); records are one array
per graph input, of its declared element type, [N, 1] or [N, width] as declared. Before
timing, the labels (or a regressor's scores) of every corpus row must equal those the
corpus recorded from onnxruntime. It prints the median time per call and per row and
writes them (seconds per call) to FILE. `table` reads ROUND_DIR/ort.json and the
criterion results in ROUND_DIR/criterion for each round and prints markdown tables.
Medians on both sides: on a shared machine the mean moves with every neighbour's burst.
The venv is the interop one (tests/interop/requirements.txt).
"""
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "tests" / "interop"
sys.path.insert(0, str(INTEROP))

from onnxruntime_reference import INPUT_TYPES, as_json  # noqa: E402

BATCHES = (1, 1000)
# Samples per batch size, each at least SAMPLE_SECONDS of back-to-back calls.
SAMPLES = 15
SAMPLE_SECONDS = 0.05


# --- the corpus ---------------------------------------------------------------------------


def ensure_corpus(directory):
    """Writes the corpus into `directory` unless its stamp says it was made from the same
    corpus.py, onnxruntime_reference.py, pins and interpreter (the stamp and the rule are
    test_models_users_bring.py's: keep them in step)."""
    directory = Path(directory)
    inputs = hashlib.sha256()
    for name in ("corpus.py", "onnxruntime_reference.py", "requirements.txt"):
        inputs.update((INTEROP / name).read_bytes())
    inputs.update(sys.version.encode())
    stamp = directory / ".inputs"
    if stamp.is_file() and stamp.read_text() == inputs.hexdigest():
        print(f"corpus: reusing {directory}")
        return
    print(f"corpus: writing {directory}")
    subprocess.run([sys.executable, INTEROP / "corpus.py", directory], check=True, stdin=subprocess.DEVNULL)
    stamp.write_text(inputs.hexdigest())


# --- ONNX Runtime -------------------------------------------------------------------------


def session(path):
    """onnxruntime as the issue asks: one intra-op thread, nodes run one after another,
    its default graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feed(sess, rows):
    """The arrays of `rows` (corpus JSON rows) for `sess`'s inputs."""
    n = len(rows)
    inputs = sess.get_inputs()
    if not isinstance(rows[0], dict):
        (only,) = inputs
        return {only.name: np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)}
    arrays = {}
    for i in inputs:
        dtype = INPUT_TYPES[i.type][1]
        values = [np.nan if r[i.name] is None else r[i.name] for r in rows]
        shape = (n,) if len(i.shape) == 1 else (n, -1)
        arrays[i.name] = np.array(values, dtype=dtype).reshape(shape)
    return arrays


def check(sess, record, name):
    """Exits unless our feed of every corpus row gets the answers the corpus recorded."""
    rows = record["rows"]
    first = sess.run(None, feed(sess, rows))[0]
    answer = as_json(np.asarray(first).reshape(len(rows), -1)[:, 0])
    expected = record["onnxruntime"].get("labels", record["onnxruntime"].get("scores"))
    if answer != expected:
        sys.exit(f"{name}: onnxruntime's answers on this feed differ from the corpus's")


def per_call(sess, arrays):
    """Median seconds per `session.run` over SAMPLES samples of back-to-back calls."""
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < SAMPLE_SECONDS or calls < 3:  # warm-up, and calibration
        sess.run(None, arrays)
        calls += 1
    samples = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        for _ in range(calls):
            sess.run(None, arrays)
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def time_models(directory, names, out):
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}, 1 thread, median per call (per row)")
    results = {}
    for name in names:
        record = json.loads((Path(directory) / f"{name}.json").read_text())
        sess = session(Path(directory) / record["file"])
        check(sess, record, name)
        rows = record["rows"]
        results[name] = {}
        line = f"{name:<36}"
        for n in BATCHES:
            seconds = per_call(sess, feed(sess, [rows[i % len(rows)] for i in range(n)]))
            results[name][str(n)] = seconds
            line += f" batch {n}: {seconds * 1e6:9.2f} us ({seconds / n * 1e6:.3f} us/row)"
        print(line, flush=True)
    Path(out).write_text(json.dumps(results, indent=1) + "\n")


# --- the table ----------------------------------------------------------------------------


def criterion_median(directory, group, label):
    """Criterion's median seconds per iteration for one benchmark, or None."""
    path = Path(directory) / group.replace("/", "_") / label / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e9


def duration(seconds):
    """Three significant digits, in us or ms."""
    if seconds is None:
        return "-"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def cells(values, show):
    return ", ".join(show(v) for v in values)


def table(rounds):
    ort = [json.loads((Path(r) / "ort.json").read_text()) for r in rounds]
    crit = [Path(r) / "criterion" for r in rounds]
    print(f"median per call, rounds {', '.join(str(i + 1) for i in range(len(rounds)))}; "
          "ratio = onnxruntime / ours (above 1: ours is faster)")
    print()
    print("| model | batch | ours | onnxruntime, 1 thread | ratio |")
    print("|---|---|---|---|---|")
    records = []
    for name in ort[0]:
        for n in BATCHES:
            ours = [criterion_median(c, f"{name}/batch-{n}", "ours") for c in crit]
            theirs = [o[name][str(n)] for o in ort]
            ratio = ["-" if a is None else f"{b / a:.2f}x" for a, b in zip(ours, theirs)]
            print(f"| {name} | {n} | {cells(ours, duration)} | {cells(theirs, duration)} | {', '.join(ratio)} |")
            decode = [criterion_median(c, f"{name}-records/batch-{n}", "decode") for c in crit]
            if any(d is not None for d in decode):
                both = [criterion_median(c, f"{name}-records/batch-{n}", "decode-predict") for c in crit]
                records.append((name, n, decode, both, ours))
    if records:
        print()
        print("records (one graph input per column): the `/predict` body's decoding, and that plus the prediction")
        print()
        print("| model | batch | decode | decode + predict | predict alone |")
        print("|---|---|---|---|---|")
        for name, n, decode, both, ours in records:
            print(f"| {name} | {n} | {cells(decode, duration)} | {cells(both, duration)} | {cells(ours, duration)} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "corpus":
        ensure_corpus(args[1])
    elif len(args) >= 5 and args[:2] == ["time", "--out"]:
        time_models(args[3], args[4:], out=args[2])
    elif len(args) >= 2 and args[0] == "table":
        table(args[1:])
    else:
        sys.exit(__doc__)
