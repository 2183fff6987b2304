"""scikit-learn interop: models trained with scikit-learn and converted by skl2onnx are
served by the function as ONNX Runtime computes them from the same file.

Each case trains a small scikit-learn tree model with a fixed seed on synthetic data
(`make_classification`, `make_regression`) or on Iris (shipped with scikit-learn),
converts it with skl2onnx (ZipMap off, `ai.onnx.ml` opset 3 at most, so the classic
TreeEnsembleClassifier / TreeEnsembleRegressor ops rather than opset 5's TreeEnsemble),
serves the file with the real `function` binary and compares its answer with
onnxruntime's for a batch of in-range rows, rows exactly on (and one f32 step either
side of) split thresholds, and far-out rows. This exercises our own tree-ensemble ops
(function/model/src/tree_ensemble/) on the layouts scikit-learn actually produces:
forest and single-tree probabilities (the binary layout gives only the positive class's
weight), gradient-boosting margins under LOGISTIC and SOFTMAX with base values, string
and non-0..n-1 integer class labels, regressors (forests as a SUM of weights skl2onnx
divides by the tree count, boosting with a base value), and a two-target regressor.

Run through tests/interop/run.sh; the server fixture and HTTP helpers are the ones of
test_onnx_interop.py.
"""

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from skl2onnx import to_onnx

# `server` is a fixture: it starts the function on this module's `model_path` and stops
# it with SIGTERM (exit 0 required) in a finalizer.
from test_onnx_interop import ML_DOMAIN, assert_same_labels, attributes, post_json, server  # noqa: F401

SEED = 20240917
# The classic ops: skl2onnx would emit opset 5's TreeEnsemble for ai.onnx.ml >= 5.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
N_FEATURES = 6
N_SAMPLES = 240
RANDOM_ROWS = 200
# Split values tried per model (all of them when fewer): each once exactly, once one f32
# step below and once one step above.
MAX_SPLITS = 300
# Far outside the data: trees take their outermost branches everywhere.
EXTREME_VALUES = [0.0, 1e6, -1e6, 1e30, -1e30]
# Both runtimes compute in f32 but may add leaf values in another order. Differences are
# compared with TOLERANCE * max(1, |onnxruntime|): absolute for probabilities, relative
# for large regression values.
TOLERANCE = 1e-5
# Ties (two top probabilities within 1e-6) are handled by assert_same_labels.


# --- the models -------------------------------------------------------------------------


def binary_data():
    # Unbalanced, so gradient boosting starts from a non-zero log-odds base value.
    return make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=4, n_redundant=1,
        n_classes=2, weights=[0.7], flip_y=0.05, random_state=SEED,
    )


def multiclass_data():
    return make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=4, n_redundant=1,
        n_classes=4, n_clusters_per_class=1, flip_y=0.05, random_state=SEED,
    )


def iris_strings():
    iris = load_iris()
    return iris.data, iris.target_names[iris.target]


def iris_binary_strings():
    # versicolor vs virginica: the two classes that overlap.
    x, y = iris_strings()
    keep = y != "setosa"
    return x[keep], y[keep]


def relabelled(data, labels):
    """`data` with class i renamed labels[i]: integer labels that are not 0..n-1."""

    def load():
        x, y = data()
        return x, np.array(labels)[y]

    return load


def regression_data():
    return make_regression(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=4, noise=5.0, random_state=SEED
    )


def two_target_data():
    return make_regression(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=4, n_targets=2, noise=5.0, random_state=SEED
    )


@dataclass(frozen=True)
class Case:
    estimator: Callable[[], object]
    data: Callable[[], tuple]
    classifier: bool
    # For classifiers: number of classes; for regressors: number of targets.
    width: int


def forest(kind):
    return lambda: kind(n_estimators=20, max_depth=8, random_state=SEED)


def boosting(kind):
    return lambda: kind(n_estimators=20, max_depth=3, learning_rate=0.3, random_state=SEED)


def tree(kind):
    return lambda: kind(max_depth=8, random_state=SEED)


CASES = {
    "random-forest-binary": Case(forest(RandomForestClassifier), binary_data, True, 2),
    "random-forest-multiclass": Case(forest(RandomForestClassifier), multiclass_data, True, 4),
    "extra-trees-binary": Case(forest(ExtraTreesClassifier), binary_data, True, 2),
    "extra-trees-multiclass": Case(forest(ExtraTreesClassifier), multiclass_data, True, 4),
    "gradient-boosting-binary": Case(boosting(GradientBoostingClassifier), binary_data, True, 2),
    "gradient-boosting-multiclass": Case(boosting(GradientBoostingClassifier), multiclass_data, True, 4),
    "decision-tree-binary": Case(tree(DecisionTreeClassifier), binary_data, True, 2),
    "decision-tree-multiclass": Case(tree(DecisionTreeClassifier), multiclass_data, True, 4),
    "random-forest-iris-strings": Case(forest(RandomForestClassifier), iris_strings, True, 3),
    "extra-trees-multiclass-labels-3-7-9-11": Case(
        forest(ExtraTreesClassifier), relabelled(multiclass_data, [3, 7, 9, 11]), True, 4
    ),
    "gradient-boosting-binary-labels-minus1-plus1": Case(
        boosting(GradientBoostingClassifier), relabelled(binary_data, [-1, 1]), True, 2
    ),
    "gradient-boosting-iris-binary-strings": Case(
        boosting(GradientBoostingClassifier), iris_binary_strings, True, 2
    ),
    "random-forest-regressor": Case(forest(RandomForestRegressor), regression_data, False, 1),
    "extra-trees-regressor": Case(forest(ExtraTreesRegressor), regression_data, False, 1),
    "gradient-boosting-regressor": Case(boosting(GradientBoostingRegressor), regression_data, False, 1),
    "decision-tree-regressor": Case(tree(DecisionTreeRegressor), regression_data, False, 1),
    "random-forest-regressor-2-targets": Case(forest(RandomForestRegressor), two_target_data, False, 2),
}

# Cases whose comparison is a known, pinned-down disagreement: id -> reason.
KNOWN_DISAGREEMENTS = {}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def case(request):
    return request.param


@pytest.fixture(scope="module")
def trained(case):
    """(fitted estimator, training rows as f32)."""
    spec = CASES[case]
    x, y = spec.data()
    estimator = spec.estimator().fit(x, y)
    return estimator, x.astype(np.float32)


@pytest.fixture(scope="module")
def model_path(case, trained, tmp_path_factory):
    estimator, x = trained
    options = {id(estimator): {"zipmap": False}} if CASES[case].classifier else None
    onx = to_onnx(estimator, x[:1], options=options, target_opset=TARGET_OPSET)
    path = tmp_path_factory.mktemp("sklearn") / f"{case}.onnx"
    onnx.save(onx, str(path))
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return onnx.load(str(model_path))


@pytest.fixture(scope="module")
def session(model_path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    # skl2onnx declares a multi-target tree regressor's output as [N, 1]; onnxruntime
    # warns about the [N, 2] it computes. Errors only.
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def rows(model, trained):
    """Training rows, random rows in a box 10% wider than the data, each split value of
    the ensemble exactly and one f32 step either side (where `<=` and `<` part ways), and
    rows far outside the data."""
    _, x = trained
    rng = np.random.default_rng(SEED)
    low, high = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    margin = 0.1 * (high - low)
    width = x.shape[1]
    parts = [x[:50], rng.uniform(low - margin, high + margin, size=(RANDOM_ROWS, width))]

    attrs = attributes(ensemble_node(model))
    splits = sorted(
        {
            (int(feature), float(value))
            for mode, feature, value in zip(attrs["nodes_modes"], attrs["nodes_featureids"], attrs["nodes_values"])
            if mode != b"LEAF"
        }
    )
    if len(splits) > MAX_SPLITS:
        splits = [splits[i] for i in sorted(rng.choice(len(splits), MAX_SPLITS, replace=False))]
    base = rng.uniform(low, high, size=(len(splits), width)).astype(np.float32)
    for direction in (None, -np.inf, np.inf):
        shifted = base.copy()
        for i, (feature, value) in enumerate(splits):
            value = np.float32(value)
            shifted[i, feature] = value if direction is None else np.nextafter(value, np.float32(direction))
        parts.append(shifted)

    extreme = [np.full(width, v) for v in EXTREME_VALUES]
    extreme += [np.where(np.arange(width) % 2 == 0, 1e6, -1e6), np.where(np.arange(width) % 2 == 0, -1e30, 1e30)]
    parts.append(np.array(extreme))
    out = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]).astype(np.float32)
    assert np.isfinite(out).all()
    return out


# --- helpers ----------------------------------------------------------------------------


def ensemble_node(model):
    nodes = [node for node in model.graph.node if node.domain == ML_DOMAIN]
    assert len(nodes) == 1, [(n.domain, n.op_type) for n in model.graph.node]
    return nodes[0]


def class_labels(model):
    """The label of each probability column: ints, or strings decoded."""
    attrs = attributes(ensemble_node(model))
    if "classlabels_int64s" in attrs:
        return [int(c) for c in attrs["classlabels_int64s"]]
    return [c.decode() for c in attrs["classlabels_strings"]]


def describe(model):
    """The attributes that decide how leaf values become the answer."""
    attrs = attributes(ensemble_node(model))
    ids = attrs.get("class_ids", attrs.get("target_ids", []))
    weights = attrs.get("class_weights", attrs.get("target_weights", []))
    modes = sorted({m.decode() for m in attrs["nodes_modes"]})
    return (
        f"post_transform={attrs.get('post_transform', b'NONE').decode()} "
        f"aggregate={attrs.get('aggregate_function', b'SUM').decode()} "
        f"base_values={[round(float(b), 6) for b in attrs.get('base_values', [])]} "
        f"ids used={sorted(set(int(i) for i in ids))} negative weights={any(w < 0 for w in weights)} "
        f"modes={modes}"
    )


def run_onnxruntime(session, rows):
    (feed,) = session.get_inputs()
    return session.run(None, {feed.name: rows})


def within(got, want):
    """Where got is within TOLERANCE of want (absolute below 1, relative above)."""
    return np.abs(got - want) <= TOLERANCE * np.maximum(1.0, np.abs(want))


def agreement(got, want):
    """How close: the share of values equal as f32 and the largest difference."""
    same = got.astype(np.float32) == want.astype(np.float32)
    return f"{int(same.sum())}/{same.size} values equal as f32, largest |difference| {np.abs(got - want).max():.3g}"


def first_bad(rows, mask, got, want):
    i = int(np.flatnonzero(~mask.reshape(len(rows), -1).all(axis=1))[0])
    return f"row {i} {rows[i].tolist()}: function {got[i].tolist()}, onnxruntime {want[i].tolist()}"


def compare_classifier(case, server, session, model, rows):
    answer = post_json(f"{server}/predict?probabilities=true", {"input": rows.astype(np.float64).tolist()})
    assert set(answer) == {"prediction", "probabilities"}, answer.keys()
    want_labels, want_probabilities = run_onnxruntime(session, rows)
    want_probabilities = want_probabilities.astype(np.float64)
    got_probabilities = np.array(answer["probabilities"], dtype=np.float64)
    # Integer labels as JSON integers, string labels as JSON strings.
    label_type = str if want_labels.dtype == object else int
    assert all(type(label) is label_type for label in answer["prediction"]), answer["prediction"][:5]
    got_labels = np.array(answer["prediction"], dtype=want_labels.dtype)
    n_classes = CASES[case].width
    assert want_probabilities.shape == (len(rows), n_classes)
    assert got_probabilities.shape == want_probabilities.shape
    assert got_labels.shape == want_labels.shape == (len(rows),)

    close = within(got_probabilities, want_probabilities)
    bad_rows = int((~close.all(axis=1)).sum())
    assert close.all(), (
        f"{bad_rows} of {len(rows)} rows have other probabilities than onnxruntime's "
        f"({describe(model)}); first: {first_bad(rows, close, got_probabilities, want_probabilities)}"
    )

    columns = np.array(class_labels(model), dtype=want_labels.dtype)
    found = assert_same_labels(
        rows, columns, (got_labels, got_probabilities), (want_labels, want_probabilities), f" ({describe(model)})"
    )
    differ = sum(int(got != want) for _, _, got, want in found)
    ties = [f"row {i} ties {tied}: function {got}, onnxruntime {want}" for i, tied, got, want in found]
    print(
        f"\n{case}: {len(rows)} rows, labels and probabilities agree "
        f"({agreement(got_probabilities, want_probabilities)}); {len(ties)} tie rows, "
        f"{differ} broken differently{': ' + '; '.join(ties[:3]) if ties else ''}"
    )


def compare_regressor(case, server, session, model, rows):
    answer = post_json(f"{server}/predict", {"input": rows.astype(np.float64).tolist()})
    assert set(answer) == {"prediction"}, answer.keys()
    (want,) = run_onnxruntime(session, rows)
    want = want.astype(np.float64)
    n_targets = CASES[case].width
    assert want.shape == (len(rows), n_targets)
    got = np.array(answer["prediction"], dtype=np.float64)
    if n_targets == 1:
        # One number per row, not a one-element list.
        assert got.shape == (len(rows),), got.shape
        got = got.reshape(-1, 1)
    assert got.shape == want.shape
    close = within(got, want)
    bad_rows = int((~close.all(axis=1)).sum())
    assert close.all(), (
        f"{bad_rows} of {len(rows)} rows have other values than onnxruntime's ({describe(model)}); "
        f"first: {first_bad(rows, close, got, want)}"
    )
    print(f"\n{case}: {len(rows)} rows, values agree; {agreement(got, want)}")


# --- tests ------------------------------------------------------------------------------


def test_checker_accepts_model(model):
    onnx.checker.check_model(model, full_check=True)


def test_uses_the_classic_tree_ensemble_op(model, case, session, trained):
    op = "TreeEnsembleClassifier" if CASES[case].classifier else "TreeEnsembleRegressor"
    assert ensemble_node(model).op_type == op
    ml = {o.domain: o.version for o in model.opset_import}
    assert 1 <= ml.get(ML_DOMAIN, 0) <= 3, ml
    (feed,) = session.get_inputs()
    assert feed.type == "tensor(float)" and feed.shape[1] == trained[1].shape[1], (feed.type, feed.shape)
    attrs = attributes(ensemble_node(model))
    if CASES[case].classifier:
        assert len(class_labels(model)) == CASES[case].width
    else:
        assert attrs["n_targets"] == CASES[case].width


def test_function_matches_onnxruntime(case, server, session, model, rows, request):
    if case in KNOWN_DISAGREEMENTS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_DISAGREEMENTS[case]))
    started = time.monotonic()
    if CASES[case].classifier:
        compare_classifier(case, server, session, model, rows)
    else:
        compare_regressor(case, server, session, model, rows)
    print(f"{case}: compared in {time.monotonic() - started:.2f}s ({describe(model)})")
