#!/usr/bin/env python3
"""Issue 21's speed anchor: shap's TreeExplainer (tree_path_dependent) on the models the
function explains in `benches/explain.rs`, one thread, same row distribution.

    target/interop-venv/bin/python bench/explain_shap.py csv target/bench
    target/interop-venv/bin/python bench/explain_shap.py time target/bench

`csv` writes the boosted models' training rows (bench/boosted_models.py's seeded data) as
xgb500-train.csv and lgbm500-train.csv, for `converter annotate` (covers = training-row
counts, what LightGBM's own covers are; XGBoost's are hessian sums). `time` times:
- xgb500 and lgbm500, the native models: shap calls XGBoost's and LightGBM's own C++
  TreeSHAP for them (pred_contribs / pred_contrib), here with 1 thread;
- a scikit-learn RandomForestClassifier(100) on Iris, which shap explains with its own
  C++ code (`_cext.dense_tree_shap`): the one-row anchor for the bundled Iris forest.
Per model, the median time per row at batch 1 and 1000 (the rows of bench_rows: N(0, 1)
here unless TREE_BENCH_ROWS says otherwise).
"""
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TREE_BENCH_ROWS", "0,1")

from boosted_models import data  # noqa: E402
from tree_models import bench_rows  # noqa: E402

BATCHES = [1, 1000]


def write_csv(path, x, y):
    with open(path, "w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow([f"f{i}" for i in range(x.shape[1])] + ["target"])
        for features, target in zip(x, y):
            rows.writerow([repr(float(v)) for v in features] + [target])


def per_row(explain, rows, width, runs=5):
    x = bench_rows(rows, width)
    iterations = max(1, 200 // rows)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(iterations):
            explain(x)
        samples.append((time.perf_counter() - start) / (iterations * rows))
    return statistics.median(samples)


def timings(out):
    import lightgbm
    import shap
    import xgboost
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    out = Path(out)
    booster = xgboost.Booster(model_file=str(out / "xgb500.json"))
    booster.set_param({"nthread": 1})
    lgbm = lightgbm.Booster(model_file=str(out / "lgbm500.txt"), params={"num_threads": 1})
    iris = load_iris()
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(iris.data, iris.target)
    models = {
        "xgb500 (XGBoost's TreeSHAP through shap)": (booster, 30),
        "lgbm500 (LightGBM's TreeSHAP through shap)": (lgbm, 30),
        "iris RandomForest(100) (shap's C++)": (forest, 4),
    }
    print(f"shap {shap.__version__}, tree_path_dependent, 1 thread, median time per row")
    for name, (model, width) in models.items():
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        got = {rows: per_row(explainer.shap_values, rows, width) for rows in BATCHES}
        print(f"{name}: " + ", ".join(f"batch {r} {t * 1e6:.1f} us/row" for r, t in got.items()))


def main(argv):
    if len(argv) == 2 and argv[0] == "csv":
        for name, kind in [("xgb500", "classification"), ("lgbm500", "regression")]:
            x, y = data(kind)
            write_csv(Path(argv[1]) / f"{name}-train.csv", x, y)
    elif len(argv) == 2 and argv[0] == "time":
        timings(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
