#!/usr/bin/env python3
"""Times ONNX Runtime (single-threaded) on tree-ensemble ONNX files, and writes the
scikit-learn forests the tree benchmarks use.

    target/interop-venv/bin/python bench/tree_models.py make target/bench/rf500.onnx
    target/interop-venv/bin/python bench/tree_models.py make-iris target/bench/iris-sklearn.onnx
    target/interop-venv/bin/python bench/tree_models.py paths
    target/interop-venv/bin/python bench/tree_models.py time models/iris-forest.onnx target/bench/rf500.onnx
    target/interop-venv/bin/python bench/tree_models.py time --criterion target/criterion MODELS...
    target/interop-venv/bin/python bench/tree_models.py time --criterion target/criterion \
        --native target/bench/native.json MODELS...

`make` trains scikit-learn's RandomForestClassifier(500 trees, max_depth=12) on 30
synthetic features and converts it with skl2onnx (zipmap off, ai.onnx.ml opset 3).
`make-iris` does the same for the tutorial's model (bench/tutorial/train.py: 100 trees
on Iris, grown to purity, seeded here so every run times the same trees): scikit-learn
users bring this file, whose leaves hold one weight per class, where the bundled forest
(the converter's) has one vote per leaf and half as many leaves.
`paths` trains `make`'s forest and prints how many of a lock-step walk's steps its
rows need (issue 19: whether stopping a walk early could pay).
`time` prints the median time per row at batch 1 (one row asked again and again), at
batch 1 with a different row each call (`1-varied`, cycling through 1024 rows, as a
served function sees them: a repeated row's branches are predicted and its nodes stay
in cache), and at batch 1000. Rows are drawn from N(3, 2), as the Rust benchmark draws
them: they cross the splits of both forests; TREE_BENCH_ROWS=mean,sd draws them from
N(mean, sd) on both sides.
With `--criterion DIR` it then prints one table, a line per model and batch: the medians
per row that `cargo bench --bench tree_ensemble` left in DIR for our op (through
`Model::predict`, as the function serves it, and through a tract plan) and tract's, next
to ONNX Runtime's, and ONNX Runtime's time over our faster one; `--native FILE` adds the
native libraries' times that `bench/boosted_models.py native` wrote. Medians on both sides: on a shared
machine the mean (criterion's headline figure) moves with every neighbour's burst.
The venv is the interop one: `tests/interop/run.sh` creates it.
"""
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def large_forest():
    """The 500-tree, depth-12 forest and its training rows (seeded: the same every run)."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(
        n_samples=20_000, n_features=30, n_informative=20, n_classes=3, random_state=0
    )
    model = RandomForestClassifier(n_estimators=500, max_depth=12, random_state=0, n_jobs=-1)
    return model.fit(x, y), x


def make(path):
    model, x = large_forest()
    write_onnx(model, x, path)


def paths():
    """How many steps the large forest's rows take per tree, against the fixed number a
    lock-step walk takes (a group of 16 trees walks as deep as its deepest tree): what
    stopping a group's walk early could save, on rows like the training data's and on
    the benchmark's N(3, 2)."""
    model, _ = large_forest()
    depths = np.array([tree.get_depth() for tree in model.estimators_])
    groups = len(depths) // 16
    rng = np.random.default_rng(1)
    for name, (mean, sd) in [("N(0, 1)", (0, 1)), ("N(3, 2)", (3, 2))]:
        rows = rng.normal(mean, sd, (200, 30)).astype(np.float32)
        # Per tree and row, the branches on the row's path.
        steps = np.array([t.decision_path(rows).sum(axis=1).A1 - 1 for t in model.estimators_])
        walked = 16 * depths[: groups * 16].reshape(groups, 16).max(axis=1).sum()
        needed = steps[: groups * 16].sum(axis=0).mean()
        deepest = steps[: groups * 16].reshape(groups, 16, -1).max(axis=1).mean()
        print(
            f"rows {name}: {needed / walked:.1%} of a lock-step walk's steps are needed "
            f"(mean path {steps.mean():.2f} branches, deepest of 16 trees {deepest:.2f}, "
            f"tree depth {depths.mean():.1f})"
        )


def make_iris(path):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0)
    write_onnx(model.fit(x, y), x, path)


def write_onnx(model, x, path):
    """Converts a fitted forest with skl2onnx (zipmap off, ai.onnx.ml opset 3)."""
    from skl2onnx import to_onnx

    onnx = to_onnx(
        model,
        x[:1].astype(np.float32),
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    with open(path, "wb") as f:
        f.write(onnx.SerializeToString())
    print(f"wrote {path}: {sum(e.tree_.node_count for e in model.estimators_)} nodes")


def bench_rows(rows, width):
    """The rows every runtime here is timed on: N(3, 2), seeded, or N(mean, sd) when
    TREE_BENCH_ROWS is `mean,sd` (as the Rust benchmark reads it)."""
    mean, sd = (float(v) for v in os.environ.get("TREE_BENCH_ROWS", "3,2").split(","))
    return (np.random.default_rng(0).standard_normal((rows, width)) * sd + mean).astype(np.float32)


def per_row(session, name, width, rows, runs=9):
    data = bench_rows(rows, width)
    iterations = max(3, 2000 // rows)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(iterations):
            session.run(None, {name: data})
        samples.append((time.perf_counter() - start) / (iterations * rows))
    return statistics.median(samples)


VARIED_ROWS = 1024


def per_varied_row(session, name, width, runs=9):
    """One row per call, a different one each call (the Rust benchmark's
    `batch-1-varied`): repeating one row lets the CPU predict a branchy walk."""
    data = bench_rows(VARIED_ROWS, width)
    singles = [np.ascontiguousarray(data[i : i + 1]) for i in range(VARIED_ROWS)]
    iterations = 2 * VARIED_ROWS
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for i in range(iterations):
            session.run(None, {name: singles[i % VARIED_ROWS]})
        samples.append((time.perf_counter() - start) / iterations)
    return statistics.median(samples)


def time_models(paths, criterion=None, native=None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    print(f"onnxruntime {ort.__version__}, 1 thread, median time per row")
    print(f"{'model':<32} {'batch 1':>10} {'batch 1, varied':>16} {'batch 1000':>12}")
    ort_per_row = {}
    for path in paths:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        (inp,) = session.get_inputs()
        width = inp.shape[1]
        one = per_row(session, inp.name, width, 1)
        varied = per_varied_row(session, inp.name, width)
        many = per_row(session, inp.name, width, 1000)
        ort_per_row[path] = {"1": one, "1-varied": varied, "1000": many}
        print(f"{path:<32} {one * 1e6:>8.2f}us {varied * 1e6:>14.2f}us {many * 1e6:>10.2f}us")
    if criterion:
        native_per_row = json.loads(Path(native).read_text()) if native else {}
        side_by_side(criterion, ort_per_row, native_per_row)


def criterion_median(criterion, model, batch, label):
    """Criterion's median time per row for one benchmark, or None if it was not run."""
    path = Path(criterion) / f"{model}_batch-{batch}" / label / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e9 / int(batch.split("-")[0])


def side_by_side(criterion, ort_per_row, native_per_row):
    def us(seconds):
        return "-" if seconds is None else f"{seconds * 1e6:.3f} us"

    print()
    print("median per row | ours (Model::predict) | ours (tract plan) | tract 0.23's op "
          "| onnxruntime, 1 thread | native, 1 thread | onnxruntime / ours")
    print("---|---|---|---|---|---|---")
    for path, timings in ort_per_row.items():
        model = Path(path).stem
        for batch, ort_time in timings.items():
            direct = criterion_median(criterion, model, batch, "model")
            ours = criterion_median(criterion, model, batch, "ours")
            builtin = criterion_median(criterion, model, batch, "tract-0.23")
            native = native_per_row.get(model, {}).get(batch)
            fastest = min((t for t in [direct, ours] if t is not None), default=None)
            ratio = "-" if fastest is None else f"{ort_time / fastest:.1f}x"
            print(f"{model}, batch {batch} | {us(direct)} | {us(ours)} | {us(builtin)} "
                  f"| {us(ort_time)} | {us(native)} | {ratio}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1:] == ["paths"]:
        paths()
    elif len(sys.argv) >= 3 and sys.argv[1] == "make-iris":
        make_iris(sys.argv[2])
    elif len(sys.argv) >= 7 and sys.argv[1:3] == ["time", "--criterion"] and sys.argv[4] == "--native":
        time_models(sys.argv[6:], criterion=sys.argv[3], native=sys.argv[5])
    elif len(sys.argv) >= 5 and sys.argv[1:3] == ["time", "--criterion"]:
        time_models(sys.argv[4:], criterion=sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "time":
        time_models(sys.argv[2:])
    else:
        sys.exit(__doc__)
