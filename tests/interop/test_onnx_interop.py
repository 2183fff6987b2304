"""ONNX interop: the converter writes standard ONNX, and the function serves what ONNX
Runtime computes from the same file.

For the committed forest and freshly trained forest and logistic models: the ONNX checker
accepts the file, its signature and metadata are what the function and other runtimes
expect, and the real `function` binary (started on 127.0.0.1, stopped with SIGTERM)
answers `POST /predict?probabilities=true` with onnxruntime's labels and probabilities.
Run through tests/interop/run.sh, which installs the pinned Python packages and builds
the binaries.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
FUNCTION_BIN = Path(os.environ.get("FUNCTION_BIN", BIN_DIR / "function"))
CONVERTER_BIN = Path(os.environ.get("CONVERTER_BIN", BIN_DIR / "converter"))
COMMITTED_FOREST = ROOT / "models" / "iris-forest.onnx"

ML_DOMAIN = "ai.onnx.ml"
N_FEATURES = 4
N_CLASSES = 3
# The tutorial's example request; every Iris model calls it setosa (label 0).
TUTORIAL_ROW = [5.1, 3.5, 1.4, 0.2]
# Min and max of each Iris column (sepal length, sepal width, petal length, petal width).
IRIS_RANGES = [(4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5)]
RANDOM_ROWS = 300
# Far outside the data: a softmax that exponentiates without subtracting the maximum
# overflows to inf/inf = NaN here, and trees take their outermost branches.
EXTREME_ROWS = [[0.0, 0.0, 0.0, 0.0], [100.0] * 4, [1e6, 0.0, 0.0, 0.0], [-1e6, 1e6, -1e6, 1e6]]
SEED = 20240917
# Both runtimes compute in f32 but may sum votes or exponentials in another order.
PROBABILITY_ATOL = 1e-5
# A row whose two largest probabilities are this close is a tie: runtimes may break it
# either way. Forest votes come in steps of 1/trees, so real gaps are far larger.
TIE_GAP = 1e-6
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 30.0

# id -> (how to get the file, the ai.onnx.ml operator it must use, its model_type)
MODELS = {
    "committed-forest": ("committed", "TreeEnsembleClassifier", "random_forest"),
    "fresh-forest": ("forest", "TreeEnsembleClassifier", "random_forest"),
    "fresh-logistic": ("logistic", "LinearClassifier", "logistic_regression"),
}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fresh_models(tmp_path_factory):
    """Trains a forest and a logistic regression with the converter's defaults."""
    for binary in (CONVERTER_BIN, FUNCTION_BIN):
        assert binary.is_file(), f"{binary} is missing: run `cargo build -p function -p converter`"
    out = tmp_path_factory.mktemp("models")
    paths = {}
    for kind in ("forest", "logistic"):
        path = out / f"{kind}.onnx"
        done = subprocess.run(
            [CONVERTER_BIN, "train", "--model", kind, "-o", path],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"converter train --model {kind} failed:\n{done.stdout}{done.stderr}"
        paths[kind] = path
    return paths


@pytest.fixture(scope="module", params=list(MODELS), ids=list(MODELS))
def case(request):
    """(model id, path of the ONNX file) for each model under test."""
    source = MODELS[request.param][0]
    if source == "committed":
        return request.param, COMMITTED_FOREST
    return request.param, request.getfixturevalue("fresh_models")[source]


@pytest.fixture(scope="module")
def model_path(case):
    return case[1]


@pytest.fixture(scope="module")
def model(model_path):
    return onnx.load(str(model_path))


@pytest.fixture(scope="module")
def session(model_path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def rows(model):
    """The tutorial row, random rows inside the Iris ranges, a few extreme rows, and for
    trees each split value exactly (and one f32 step below it), where `<` and `<=` part
    ways."""
    rng = np.random.default_rng(SEED)
    low, high = np.array(IRIS_RANGES, dtype=np.float64).T
    random = rng.uniform(low, high, size=(RANDOM_ROWS, N_FEATURES))
    parts = [np.array([TUTORIAL_ROW]), random, np.array(EXTREME_ROWS)]
    node = classifier_node(model)
    if node.op_type == "TreeEnsembleClassifier":
        attrs = attributes(node)
        splits = sorted(
            {
                (int(feature), float(value))
                for mode, feature, value in zip(
                    attrs["nodes_modes"], attrs["nodes_featureids"], attrs["nodes_values"]
                )
                if mode != b"LEAF"
            }
        )
        base = rng.uniform(low, high, size=(len(splits), N_FEATURES))
        at, below = base.copy(), base.copy()
        for i, (feature, value) in enumerate(splits):
            at[i, feature] = value
            below[i, feature] = np.nextafter(np.float32(value), np.float32(-np.inf))
        parts += [at, below]
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def server(model_path, request, tmp_path_factory):
    """The real function binary serving `model_path`; its base URL. The finalizer sends
    SIGTERM and requires a clean exit (code 0) within STOP_TIMEOUT_S."""
    log_dir = tmp_path_factory.mktemp("server")
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MODEL_PATH", "MODEL_NAME", "K_SERVICE")}
    env["RUST_LOG"] = "info"
    for attempt in range(3):
        port = free_port()
        log = log_dir / f"function-{attempt}.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [FUNCTION_BIN, "--model", model_path, "--port", str(port), "--host", "127.0.0.1"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            )
        request.addfinalizer(lambda p=process, l=log: stop(p, l))
        base = f"http://127.0.0.1:{port}"
        if wait_ready(process, base):
            return base
        # Another process may have taken the port between free_port() and bind().
        if process.poll() is not None and "cannot listen" in log.read_text(errors="replace"):
            continue
        pytest.fail(f"function did not become ready on {base} within {READY_TIMEOUT_S}s:\n{log.read_text(errors='replace')}")
    pytest.fail(f"function could not bind a free port in 3 attempts:\n{log.read_text(errors='replace')}")


# --- helpers ----------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(process, base):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    return False


def stop(process, log):
    if process.poll() is not None:
        # Died before teardown (a failed start): its exit was reported where it happened.
        return
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"function did not exit within {STOP_TIMEOUT_S}s of SIGTERM:\n{log.read_text(errors='replace')}")
    assert code == 0, f"function exited with {code} after SIGTERM:\n{log.read_text(errors='replace')}"


def post_json(url, body):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            assert response.status == 200
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        pytest.fail(f"POST {url} answered {error.code}: {error.read().decode(errors='replace')}")


def served(base, rows):
    """Labels and probabilities from the function. The f32 rows go out as the exact
    decimal of each f32, so the server parses the same bits onnxruntime is given."""
    answer = post_json(f"{base}/predict?probabilities=true", {"input": rows.astype(np.float64).tolist()})
    assert set(answer) == {"prediction", "probabilities"}, answer.keys()
    return np.array(answer["prediction"]), np.array(answer["probabilities"], dtype=np.float64)


def onnxruntime_run(session, rows):
    names = [output.name for output in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"input": rows})))
    return outputs["label"], outputs["probabilities"].astype(np.float64)


def classifier_node(model):
    nodes = [node for node in model.graph.node if node.domain == ML_DOMAIN]
    assert len(nodes) == 1, [(n.domain, n.op_type) for n in model.graph.node]
    return nodes[0]


def attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def class_labels(model):
    """The label of each probability column, as the node declares them."""
    attrs = attributes(classifier_node(model))
    for key in ("classlabels_int64s", "classlabels_ints", "classlabels_strings"):
        if key in attrs:
            return list(attrs[key])
    pytest.fail(f"classifier node has no class labels: {sorted(attrs)}")


def dims(value_info):
    """A value's element type and its dimensions: int for fixed, str for symbolic."""
    tensor = value_info.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
    return tensor.elem_type, shape


# --- tests ------------------------------------------------------------------------------


def test_checker_accepts_model(model):
    onnx.checker.check_model(model, full_check=True)


def test_uses_the_expected_ml_operator(model, case):
    _, op_type, model_type = MODELS[case[0]]
    assert classifier_node(model).op_type == op_type
    ml = {o.domain: o.version for o in model.opset_import}
    assert ML_DOMAIN in ml, ml
    assert {p.key: p.value for p in model.metadata_props}.get("model_type") == model_type


def test_metadata_names_features_and_classes(model):
    meta = {p.key: p.value for p in model.metadata_props}
    assert "feature_names" in meta and "class_names" in meta, sorted(meta)
    features = json.loads(meta["feature_names"])
    classes = json.loads(meta["class_names"])
    assert isinstance(features, list) and all(isinstance(f, str) for f in features), features
    assert isinstance(classes, list) and all(isinstance(c, str) for c in classes), classes
    assert len(features) == N_FEATURES
    assert len(classes) == N_CLASSES == len(class_labels(model))


def test_signature_has_symbolic_batch(model, session):
    graph = model.graph
    assert [i.name for i in graph.input] == ["input"]
    elem, shape = dims(graph.input[0])
    assert elem == TensorProto.FLOAT
    assert len(shape) == 2 and isinstance(shape[0], str) and shape[0], shape
    assert shape[1] == N_FEATURES, shape
    outputs = {o.name: dims(o) for o in graph.output}
    assert [o.name for o in graph.output] == ["label", "probabilities"]
    assert outputs["label"][0] == TensorProto.INT64
    assert outputs["probabilities"][0] == TensorProto.FLOAT
    label_shape, probability_shape = outputs["label"][1], outputs["probabilities"][1]
    assert len(label_shape) == 1 and isinstance(label_shape[0], str), label_shape
    assert len(probability_shape) == 2 and isinstance(probability_shape[0], str), probability_shape
    assert probability_shape[1] == N_CLASSES, probability_shape
    # onnxruntime reads the same signature.
    (ort_input,) = session.get_inputs()
    assert (ort_input.name, ort_input.type) == ("input", "tensor(float)")
    assert isinstance(ort_input.shape[0], str) and ort_input.shape[1] == N_FEATURES
    assert [(o.name, o.type) for o in session.get_outputs()] == [
        ("label", "tensor(int64)"),
        ("probabilities", "tensor(float)"),
    ]


def test_tutorial_row_is_setosa(server, session):
    # The tutorial's exact request: one flat row, not a batch.
    answer = post_json(f"{server}/predict", {"input": TUTORIAL_ROW})
    assert answer == {"prediction": [0]}
    labels, _ = onnxruntime_run(session, np.array([TUTORIAL_ROW], dtype=np.float32))
    assert labels.tolist() == [0]


def assert_same_labels(rows, columns, got, want, what=""):
    """Asserts the function's labels are onnxruntime's wherever onnxruntime's top
    probability is unique, and that on a tie each picks one of the tied classes.

    `got` and `want` are (labels, probabilities) pairs; `columns` the class labels in
    probability-column order. Returns the tie rows as (row, tied classes, got, want).
    """
    (got_labels, got_probabilities), (want_labels, want_probabilities) = got, want
    ranked = np.sort(want_probabilities, axis=1)
    tie = ranked[:, -1] - ranked[:, -2] <= TIE_GAP
    unique = ~tie
    mismatched = np.flatnonzero(unique & (got_labels != want_labels))
    assert mismatched.size == 0, (
        f"{mismatched.size} rows get another label than onnxruntime's{what}, e.g. row {mismatched[0]} "
        f"{rows[mismatched[0]].tolist()}: function {got_labels[mismatched[0]]} "
        f"{got_probabilities[mismatched[0]].tolist()}, onnxruntime {want_labels[mismatched[0]]} "
        f"{want_probabilities[mismatched[0]].tolist()}"
    )
    # Both agree with the most probable class where there is one...
    assert (want_labels[unique] == columns[np.argmax(want_probabilities[unique], axis=1)]).all()
    # ...and on ties each picks one of the tied classes.
    ties = []
    for i in np.flatnonzero(tie):
        tied = sorted(columns[want_probabilities[i] >= ranked[i, -1] - TIE_GAP].tolist())
        assert got_labels[i] in tied and want_labels[i] in tied, (
            f"row {i} {rows[i].tolist()} ties {tied}: function {got_labels[i]}, "
            f"onnxruntime {want_labels[i]}"
        )
        ties.append((i, tied, got_labels[i], want_labels[i]))
    return ties


def test_function_matches_onnxruntime(server, session, model, rows, case):
    got_labels, got_probabilities = served(server, rows)
    want_labels, want_probabilities = onnxruntime_run(session, rows)
    assert got_probabilities.shape == want_probabilities.shape == (len(rows), N_CLASSES)
    assert got_labels.shape == want_labels.shape == (len(rows),)
    np.testing.assert_allclose(got_probabilities, want_probabilities, rtol=0, atol=PROBABILITY_ATOL)

    ties = assert_same_labels(
        rows, np.array(class_labels(model)), (got_labels, got_probabilities), (want_labels, want_probabilities)
    )
    print(f"\n{case[0]}: {len(rows)} rows, {len(ties)} tie rows, labels and probabilities agree")
