#!/usr/bin/env python3
"""Issue 19's boosted benchmark models, seeded, what their ONNX files hold, and the native
libraries' own timings on the rows the other runtimes are timed on.

    target/interop-venv/bin/python bench/boosted_models.py make target/bench [--nan]
    target/interop-venv/bin/python bench/boosted_models.py stats target/bench/xgb500.onnx ...
    target/interop-venv/bin/python bench/boosted_models.py native target/bench OUT.json

Models (30 features, 10k training rows, seed 0):
- xgb500.onnx: XGBClassifier(n_estimators=500, max_depth=6), binary, on
  make_classification; exported by onnxmltools (convert_xgboost: all BRANCH_LT, no
  ZipMap, one TreeEnsembleClassifier node with base_values and LOGISTIC).
- lgbm500.onnx: LGBMRegressor(n_estimators=500, num_leaves=31), on make_regression;
  exported by onnxmltools (convert_lightgbm: BRANCH_LEQ, mixed
  nodes_missing_value_tracks_true, the TreeEnsembleRegressor followed by an Identity).
- with `--nan`, xgb500-nan.onnx / lgbm500-nan.onnx too: the same, trained with 5% of
  cells missing, so that splits learn a default direction (mixed
  nodes_missing_value_tracks_true for XGBoost too).
`make` also saves each native model (xgb500.json, lgbm500.txt) next to its ONNX file, for
`native`, which times XGBoost's `inplace_predict` and LightGBM's `predict` (1 thread) at
batch 1 and 1000 on the rows `tree_models.py time` gives onnxruntime, and writes the
medians per row as JSON for `tree_models.py time --native`.

The versions are the interop venv's (tests/interop/requirements.txt pins xgboost-cpu,
lightgbm, onnxmltools, scikit-learn): the same bytes on every run.
"""
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from tree_models import bench_rows

SEED = 0
N_FEATURES = 30
N_SAMPLES = 10_000
N_TREES = 500
BATCHES = [1, 1000]


def data(kind, nan=False):
    from sklearn.datasets import make_classification, make_regression

    if kind == "classification":
        x, y = make_classification(
            n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=20, random_state=SEED
        )
    else:
        x, y = make_regression(
            n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=20, noise=5.0,
            random_state=SEED,
        )
    x = x.astype(np.float32)
    if nan:
        mask = np.random.default_rng(SEED + 1).random(x.shape) < 0.05
        x[mask] = np.nan
    return x, y


def xgboost_model(nan=False):
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = data("classification", nan)
    model = xgboost.XGBClassifier(
        n_estimators=N_TREES, max_depth=6, random_state=SEED, n_jobs=1, tree_method="hist"
    ).fit(x, y)
    onx = convert_xgboost(
        model, name="xgboost", initial_types=[("input", FloatTensorType([None, N_FEATURES]))]
    )
    return model, onx


def lightgbm_model(nan=False):
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = data("regression", nan)
    model = lightgbm.LGBMRegressor(
        n_estimators=N_TREES, num_leaves=31, random_state=SEED, n_jobs=1, verbose=-1
    ).fit(x, y)
    onx = convert_lightgbm(
        model, name="lightgbm", initial_types=[("input", FloatTensorType([None, N_FEATURES]))]
    )
    return model, onx


def make(out, nan=False):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, build, native_ext in [("xgb500", xgboost_model, "json"),
                                    ("lgbm500", lightgbm_model, "txt")]:
        for with_nan in [False, True] if nan else [False]:
            model, onx = build(with_nan)
            stem = f"{name}{'-nan' if with_nan else ''}"
            path = out / f"{stem}.onnx"
            path.write_bytes(onx.SerializeToString())
            native = out / f"{stem}.{native_ext}"
            if native_ext == "json":
                model.get_booster().save_model(str(native))
            else:
                model.booster_.save_model(str(native))
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {native}")


# --- what the files hold --------------------------------------------------------------------


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def depth_and_leaves(tree_nodes):
    """tree_nodes: node_id -> (mode, true_id, false_id). Depth (edges root->deepest leaf),
    leaf count, and the depth of every leaf."""
    root = min(tree_nodes)  # the converters number the root 0
    leaf_depths = []
    stack = [(root, 0)]
    while stack:
        nid, d = stack.pop()
        mode, t, f = tree_nodes[nid]
        if mode == b"LEAF":
            leaf_depths.append(d)
        else:
            stack.append((t, d + 1))
            stack.append((f, d + 1))
    return max(leaf_depths), len(leaf_depths), leaf_depths


def mixed_trees(tree_ids, miss, branch):
    per = collections.defaultdict(set)
    for t, m, b in zip(tree_ids, miss, branch):
        if b:
            per[t].add(m)
    return sum(len(v) == 2 for v in per.values())


def stats(path):
    model = onnx.load(path)
    print(f"== {path}")
    print("   graph:", [n.op_type for n in model.graph.node],
          "opsets:", {o.domain or "ai.onnx": o.version for o in model.opset_import})
    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        a = attrs(node)
        tree_ids = a["nodes_treeids"]
        modes = a["nodes_modes"]
        trees = collections.defaultdict(dict)
        for tid, nid, mode, t, f in zip(tree_ids, a["nodes_nodeids"], modes,
                                        a["nodes_truenodeids"], a["nodes_falsenodeids"]):
            trees[tid][nid] = (mode, t, f)
        shapes = [depth_and_leaves(t) for t in trees.values()]
        depths = [s[0] for s in shapes]
        leaves = [s[1] for s in shapes]
        all_leaf_depths = [d for s in shapes for d in s[2]]
        branch = [m != b"LEAF" for m in modes]
        miss = a.get("nodes_missing_value_tracks_true", [])
        miss_b = [m for m, b in zip(miss, branch) if b]
        prefix = "class" if "class_ids" in a else "target"
        ids = a[f"{prefix}_ids"]
        weights = np.array(a[f"{prefix}_weights"])
        print(f"   {node.op_type}: {len(trees)} trees, {len(modes)} nodes "
              f"({sum(branch)} branches, {len(modes) - sum(branch)} leaves)")
        print(f"   modes: {dict(collections.Counter(m.decode() for m in modes))}")
        print(f"   depth: min {min(depths)} median {statistics.median(depths)} max {max(depths)}")
        print(f"   leaves/tree: min {min(leaves)} median {statistics.median(leaves)} "
              f"max {max(leaves)}; <=32: {sum(n <= 32 for n in leaves)}, "
              f"33..64: {sum(32 < n <= 64 for n in leaves)}, >64: {sum(n > 64 for n in leaves)}")
        print(f"   mean leaf depth {np.mean(all_leaf_depths):.2f}")
        if miss:
            print(f"   missing_value_tracks_true over branches: {sum(miss_b)} true / "
                  f"{len(miss_b) - sum(miss_b)} false; trees with both: "
                  f"{mixed_trees(tree_ids, miss, branch)}")
        else:
            print("   missing_value_tracks_true: absent")
        print(f"   {prefix}_ids: {dict(collections.Counter(ids))}; entries/leaf "
              f"{len(ids) / (len(modes) - sum(branch)):.2f}; weights min {weights.min():.4g} "
              f"max {weights.max():.4g}, negative {int((weights < 0).sum())}")
        for k in ["base_values", "post_transform", "aggregate_function", "n_targets"]:
            if k in a:
                v = a[k]
                print(f"   {k}: {v.decode() if isinstance(v, bytes) else v}")


# --- native timings -------------------------------------------------------------------------


def per_row(predict, rows, runs=9):
    data = bench_rows(rows, N_FEATURES)
    predict(data)
    iterations = max(3, 2000 // rows)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(iterations):
            predict(data)
        samples.append((time.perf_counter() - start) / (iterations * rows))
    return statistics.median(samples)


def native(out, json_path):
    import lightgbm
    import xgboost

    out = Path(out)
    booster = xgboost.Booster(model_file=str(out / "xgb500.json"))
    booster.set_param({"nthread": 1})
    lgbm = lightgbm.Booster(model_file=str(out / "lgbm500.txt"))
    predictors = {
        "xgb500": (f"xgboost {xgboost.__version__} inplace_predict",
                   lambda x: booster.inplace_predict(x)),
        "lgbm500": (f"lightgbm {lightgbm.__version__} predict",
                    lambda x: lgbm.predict(x, num_threads=1)),
    }
    timings = {}
    for model, (label, predict) in predictors.items():
        timings[model] = {str(rows): per_row(predict, rows) for rows in BATCHES}
        print(f"{model} ({label}, 1 thread): " + ", ".join(
            f"batch {rows} {t * 1e6:.2f} us/row" for rows, t in timings[model].items()))
    Path(json_path).write_text(json.dumps(timings))


def main(argv):
    if len(argv) >= 2 and argv[0] == "make":
        make(argv[1], nan="--nan" in argv)
    elif len(argv) >= 2 and argv[0] == "stats":
        for p in argv[1:]:
            stats(p)
    elif len(argv) == 3 and argv[0] == "native":
        native(argv[1], argv[2])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
