#!/usr/bin/env python3
"""Times ONNX Runtime (single-threaded) on tree-ensemble ONNX files, and writes the large
forest the tree benchmarks use.

    target/interop-venv/bin/python bench/tree_models.py make target/bench/rf500.onnx
    target/interop-venv/bin/python bench/tree_models.py time models/iris-forest.onnx target/bench/rf500.onnx

`make` trains scikit-learn's RandomForestClassifier(500 trees, max_depth=12) on 30
synthetic features and converts it with skl2onnx (zipmap off, ai.onnx.ml opset 3).
`time` prints the median time per row at batch 1 and batch 1000 (rows drawn from
N(3, 2), as the Rust benchmark draws them: they cross the splits of both forests).
The venv is the interop one: `tests/interop/run.sh` creates it.
"""
import statistics
import sys
import time

import numpy as np


def make(path):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx import to_onnx

    x, y = make_classification(
        n_samples=20_000, n_features=30, n_informative=20, n_classes=3, random_state=0
    )
    model = RandomForestClassifier(n_estimators=500, max_depth=12, random_state=0, n_jobs=-1)
    model.fit(x, y)
    onnx = to_onnx(
        model,
        x[:1].astype(np.float32),
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    with open(path, "wb") as f:
        f.write(onnx.SerializeToString())
    print(f"wrote {path}: {sum(e.tree_.node_count for e in model.estimators_)} nodes")


def per_row(session, name, width, rows, runs=9):
    data = (np.random.default_rng(0).standard_normal((rows, width)) * 2.0 + 3.0).astype(np.float32)
    iterations = max(3, 2000 // rows)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(iterations):
            session.run(None, {name: data})
        samples.append((time.perf_counter() - start) / (iterations * rows))
    return statistics.median(samples)


def time_models(paths):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    print(f"onnxruntime {ort.__version__}, 1 thread, median time per row")
    print(f"{'model':<32} {'batch 1':>10} {'batch 1000':>12}")
    for path in paths:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        (inp,) = session.get_inputs()
        width = inp.shape[1]
        one = per_row(session, inp.name, width, 1)
        many = per_row(session, inp.name, width, 1000)
        print(f"{path:<32} {one * 1e6:>8.2f}us {many * 1e6:>10.2f}us")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "time":
        time_models(sys.argv[2:])
    else:
        sys.exit(__doc__)
