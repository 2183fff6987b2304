"""The converter on a user's CSV file, checked from outside: models trained on the
string-labelled Iris fixture (tests/data/iris.csv) pass the ONNX checker, and
onnxruntime gives the labels (class names) and probabilities the real `function` binary
serves. `converter inspect` describes skl2onnx files as scikit-learn describes the
estimators they came from (trees, nodes, leaves, depth, classes, features used).

Run through tests/interop/run.sh; the server fixture and helpers are test_onnx_interop's.
"""

import json
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier
from skl2onnx import to_onnx

from test_onnx_interop import CONVERTER_BIN, ROOT, attributes, post_json, server  # noqa: F401

FIXTURE = ROOT / "tests" / "data" / "iris.csv"
CLASSES = ["setosa", "versicolor", "virginica"]
SEED = 20240917
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
PROBABILITY_ATOL = 1e-5
TIE_GAP = 1e-6

# id -> converter train flags
CONVERTER_MODELS = {
    "csv-forest": ["--model", "forest", "--trees", "30"],
    "csv-tree": ["--model", "tree", "--max-depth", "4"],
    "csv-logistic": ["--model", "logistic"],
}


def converter(*args):
    done = subprocess.run(
        [CONVERTER_BIN, *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"converter {args} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def fixture_rows():
    data = np.genfromtxt(FIXTURE, delimiter=",", skip_header=1, dtype=str)
    return data[:, :4].astype(np.float32), data[:, 4]


@pytest.fixture(scope="module", params=list(CONVERTER_MODELS), ids=list(CONVERTER_MODELS))
def model_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / f"{request.param}.onnx"
    converter("train", "--data", FIXTURE, "--target", "species", *CONVERTER_MODELS[request.param], "-o", path)
    return path


def test_checker_accepts_string_labelled_model(model_path):
    onnx.checker.check_model(onnx.load(str(model_path)), full_check=True)


def test_onnxruntime_labels_are_the_class_names_the_function_serves(model_path, server):
    rows, truth = fixture_rows()
    rng = np.random.default_rng(SEED)
    rows = np.concatenate([rows, rng.uniform(rows.min(0), rows.max(0), size=(200, 4)).astype(np.float32)])
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    want_labels, want_probabilities = session.run(["label", "probabilities"], {"input": rows})
    assert set(want_labels.tolist()) <= set(CLASSES), set(want_labels.tolist())

    answer = post_json(f"{server}/predict?probabilities=true", {"input": rows.astype(np.float64).tolist()})
    got_labels = np.array(answer["prediction"])
    got_probabilities = np.array(answer["probabilities"])
    np.testing.assert_allclose(got_probabilities, want_probabilities, rtol=0, atol=PROBABILITY_ATOL)
    # Probability column c is class CLASSES[c] (metadata and labels agree).
    meta = {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}
    assert json.loads(meta["class_names"]) == CLASSES
    ranked = np.sort(want_probabilities, axis=1)
    unique = ranked[:, -1] - ranked[:, -2] > TIE_GAP
    assert (got_labels[unique] == want_labels[unique]).all()
    assert (want_labels[unique] == np.array(CLASSES)[np.argmax(want_probabilities[unique], axis=1)]).all()
    # A model trained on these rows gets most of them right.
    accuracy = (want_labels[: len(truth)] == truth).mean()
    assert accuracy > 0.9, accuracy
    print(f"\n{model_path.name}: {len(rows)} rows, {(~unique).sum()} ties, training-row accuracy {accuracy:.4f}")


# --- inspect on skl2onnx files -----------------------------------------------------------


def sklearn_trees(estimator):
    """The fitted sklearn trees behind an estimator, flat."""
    if hasattr(estimator, "tree_"):
        return [estimator]
    return list(np.ravel(estimator.estimators_))


def iris_named():
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), np.array(CLASSES)[y]


SKLEARN_CASES = {
    "random-forest": lambda: (RandomForestClassifier(n_estimators=12, max_depth=6, random_state=SEED), iris_named()),
    "decision-tree": lambda: (DecisionTreeClassifier(random_state=SEED), iris_named()),
    "gradient-boosting": lambda: (GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=SEED), iris_named()),
    "forest-regressor": lambda: (
        RandomForestRegressor(n_estimators=4, max_depth=5, random_state=SEED),
        tuple(a.astype(np.float32) for a in make_regression(n_samples=120, n_features=6, random_state=SEED)),
    ),
}


@pytest.mark.parametrize("case", list(SKLEARN_CASES))
def test_inspect_describes_skl2onnx_files_as_sklearn_does(case, tmp_path):
    estimator, (x, y) = SKLEARN_CASES[case]()
    estimator.fit(x, y)
    classifier = hasattr(estimator, "classes_")
    options = {id(estimator): {"zipmap": False}} if classifier else None
    path = tmp_path / f"{case}.onnx"
    path.write_bytes(to_onnx(estimator, x[:1], options=options, target_opset=TARGET_OPSET).SerializeToString())

    summary = json.loads(converter("inspect", path, "--json"))
    (ensemble,) = summary["tree_ensembles"]
    trees = sklearn_trees(estimator)
    assert ensemble["trees"] == len(trees)
    assert ensemble["nodes"] == sum(t.tree_.node_count for t in trees)
    assert ensemble["leaves"] == sum(t.tree_.n_leaves for t in trees)
    assert ensemble["max_depth"] == max(t.get_depth() for t in trees)
    used = sorted({int(f) for t in trees for f in t.tree_.feature if f >= 0})
    assert ensemble["features_used"] == used
    if classifier:
        assert ensemble["op_type"] == "TreeEnsembleClassifier"
        assert ensemble["classes"] == [str(c) for c in estimator.classes_]
    else:
        assert ensemble["op_type"] == "TreeEnsembleRegressor"
        assert ensemble["targets"] == 1
    (model_input,) = summary["inputs"]
    assert model_input["elem_type"] == "float" and model_input["shape"][1] == str(x.shape[1])
    opsets = {o["domain"]: o["version"] for o in summary["opsets"]}
    declared = {o.domain or "ai.onnx": o.version for o in onnx.load(str(path)).opset_import}
    assert opsets == declared
    ops = {o["op_type"] for o in summary["operators"]}
    assert ensemble["op_type"] in ops
    # The text form says the same.
    text = converter("inspect", path)
    assert f"trees: {ensemble['trees']}, nodes: {ensemble['nodes']}, leaves: {ensemble['leaves']}" in text


def test_inspect_counts_match_the_attributes_of_our_forest(tmp_path):
    path = tmp_path / "forest.onnx"
    converter("train", "--data", FIXTURE, "--target", "species", "--trees", "9", "-o", path)
    node = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = attributes(node)
    summary = json.loads(converter("inspect", path, "--json"))
    (ensemble,) = summary["tree_ensembles"]
    assert ensemble["trees"] == 9 == len(set(attrs["nodes_treeids"]))
    assert ensemble["nodes"] == len(attrs["nodes_nodeids"])
    assert ensemble["leaves"] == sum(m == b"LEAF" for m in attrs["nodes_modes"])
    assert ensemble["classes"] == [c.decode() for c in attrs["classlabels_strings"]] == CLASSES
