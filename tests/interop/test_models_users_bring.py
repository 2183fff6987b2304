"""The models users bring (issue 18's proof): every file of the corpus that corpus.py
makes (scikit-learn pipelines from skl2onnx, LightGBM and XGBoost from onnxmltools, with
ZipMap, missing values, string columns, categorical splits) is served by the real
`function` binary, and answers row by row as onnxruntime answers from the same file:

- through `POST /predict?probabilities=true` (positional rows for a model with one graph
  input, records `{"column": value}` for one graph input per column; `null` for NaN),
- KServe V1 `instances` (rows or records alike),
- Open Inference V2 with tritonclient: one InferInput per graph input (BYTES for string
  columns, INT64 and FP32 otherwise), in JSON (the rows without missing values: JSON has
  no NaN) and in Triton's binary extension (every row, NaN in the binary data).

Labels must be equal, except on a row where onnxruntime gives both labels the same
probability (a tie either runtime may break its own way); probabilities and scores within
`close` below. `converter inspect` must describe every file. The reference is checked too:
onnxruntime gives the same answers twice, and agrees with the library that trained the
model (scikit-learn, LightGBM, XGBoost) on every row, missing values included, so a
failure below is the function's and not the corpus's.

The corpus is generated once per session into target/interop-corpus, and reused while
corpus.py, onnxruntime_reference.py, the pins and the interpreter are unchanged. Run
through tests/interop/run.sh.
"""

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import requests
import tritonclient.http as triton
from onnx import helper

import corpus
import onnxruntime_reference as reference
from test_onnx_interop import CONVERTER_BIN, FUNCTION_BIN, HTTP_TIMEOUT_S, ROOT, free_port, stop, wait_ready

HERE = Path(__file__).resolve().parent
CORPUS_DIR = ROOT / "target" / "interop-corpus"
# The function against onnxruntime: both compute in float32 from the same file, but may
# add trees, kernel terms or exponentials in another order. A value is close when
# |got - want| <= max(RTOL * |want|, ATOL * scale): relative, with an absolute floor for
# values near 0, where scale is 1 for probabilities and, for a regressor, the largest
# |score| onnxruntime gives on the file's rows (a float32 sum of terms of that size that
# cancels to near 0 is only as exact as the terms).
RTOL = 1e-5
ATOL = 1e-6
# onnxruntime (float32) against the training library (float64 in scikit-learn's scalers,
# linear models and SVMs, in LightGBM's and XGBoost's leaf sums), the same rule.
NATIVE_RTOL = 1e-4
NATIVE_ATOL = 1e-5
DATATYPES = {"float": "FP32", "int64": "INT64", "string": "BYTES"}
TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}


# --- the corpus ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def corpus_dir():
    """target/interop-corpus, (re)generated unless made from the same inputs."""
    inputs = hashlib.sha256()
    for path in (HERE / "corpus.py", HERE / "onnxruntime_reference.py", HERE / "requirements.txt"):
        inputs.update(path.read_bytes())
    inputs.update(sys.version.encode())
    stamp = CORPUS_DIR / ".inputs"
    if not (stamp.is_file() and stamp.read_text() == inputs.hexdigest()):
        done = subprocess.run(
            [sys.executable, HERE / "corpus.py", CORPUS_DIR],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, f"corpus.py failed:\n{done.stdout}{done.stderr}"
        stamp.write_text(inputs.hexdigest())
    return CORPUS_DIR


@pytest.fixture(scope="module", params=list(corpus.MODELS))
def name(request):
    return request.param


@pytest.fixture(scope="module")
def entry(name, corpus_dir):
    record = json.loads((corpus_dir / f"{name}.json").read_text())
    record["path"] = corpus_dir / record["file"]
    return record


# --- the function -------------------------------------------------------------------------


@dataclass
class Started:
    """The function on one file: its base URL, or why it would not start."""

    base: str | None
    refusal: str | None

    def url(self):
        if self.base is None:
            pytest.fail(f"the function refused the file at start-up: {self.refusal}")
        return self.base


@pytest.fixture(scope="module")
def function(entry, request, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("function")
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MODEL_PATH", "MODEL_NAME", "K_SERVICE")}
    env["RUST_LOG"] = "info"
    env["LOG_FORMAT"] = "json"  # so that last_error can read the refusal
    for attempt in range(3):
        port, log = free_port(), log_dir / f"function-{attempt}.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [FUNCTION_BIN, "--model", entry["path"], "--port", str(port), "--host", "127.0.0.1"],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env,
            )
        request.addfinalizer(lambda p=process, l=log: stop(p, l))
        base = f"http://127.0.0.1:{port}"
        if wait_ready(process, base):
            return Started(base, None)
        text = log.read_text(errors="replace")
        if process.poll() is not None and "cannot listen" in text:
            continue  # another process took the port between free_port() and bind()
        return Started(None, last_error(text) if process.poll() is not None else f"not ready in time:\n{text}")
    return Started(None, f"could not bind a free port in 3 attempts:\n{text}")


def last_error(log):
    """The message of the last ERROR record of the function's log (JSON lines), else
    the log's last line."""
    lines = [line for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") == "ERROR":
            return record.get("message", line)
    return lines[-1] if lines else "(empty log)"


# --- comparisons --------------------------------------------------------------------------


def floats(values):
    """Any nesting of numbers as a flat float64 array, `null` as NaN."""
    return np.array([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=np.float64)


def close(got, want, rtol=RTOL, atol=ATOL, scale=1.0):
    return np.abs(got - want) <= np.maximum(rtol * np.abs(want), atol * scale)


def score_scale(entry):
    """The largest |score| onnxruntime gives on the file's rows (1 for a classifier)."""
    if entry["kind"] != "regressor":
        return 1.0
    return max(1.0, float(np.nanmax(np.abs(floats(entry["onnxruntime"]["scores"])))))


def describe_row(entry, i):
    """Row `i` as the corpus gives it (JSON), for failure messages."""
    return json.dumps(entry["rows"][i])


def assert_labels(entry, indices, got, want, probabilities, via, rtol=RTOL, atol=ATOL):
    """Labels equal, but where `probabilities` (onnxruntime's) makes the two a tie."""
    classes = [str(c) for c in entry["classes"]]
    for k, i in enumerate(indices):
        g, w = str(got[k]), str(want[k])
        if g == w:
            continue
        p = probabilities[k]
        assert g in classes, f"{via}: row {i} got label {g!r}, not one of the classes {classes}"
        tie = close(np.float64(p[classes.index(g)]), np.float64(p[classes.index(w)]), rtol, atol)
        assert tie, f"{via}: row {i} {describe_row(entry, i)}: label {g!r}, onnxruntime {w!r} (probabilities {p})"


def assert_values(entry, indices, got, want, via, what, rtol=RTOL, atol=ATOL):
    got, want = floats(got).reshape(len(indices), -1), floats(want).reshape(len(indices), -1)
    assert got.shape == want.shape, f"{via}: {what} shape {got.shape}, onnxruntime {want.shape}"
    ok = close(got, want, rtol, atol, score_scale(entry))
    bad = np.flatnonzero(~ok.all(axis=1))
    if bad.size:
        i = bad[0]
        pytest.fail(
            f"{via}: {bad.size} of {len(indices)} rows have other {what}; first: row {indices[i]} "
            f"{describe_row(entry, indices[i])}: {got[i].tolist()}, onnxruntime {want[i].tolist()}"
        )
    return float(np.max(np.abs(got - want))) if got.size else 0.0


def assert_answers(entry, indices, labels=None, probabilities=None, scores=None, via=""):
    """The function's answers on rows `indices` against onnxruntime's."""
    want = entry["onnxruntime"]
    if entry["kind"] == "regressor":
        worst = assert_values(entry, indices, scores, [want["scores"][i] for i in indices], via, "scores")
    else:
        want_p = [want["probabilities"][i] for i in indices]
        worst = 0.0
        if probabilities is not None:
            worst = assert_values(entry, indices, probabilities, want_p, via, "probabilities")
        assert len(labels) == len(indices), f"{via}: {len(labels)} labels for {len(indices)} rows"
        assert_labels(entry, indices, labels, [want["labels"][i] for i in indices], want_p, via)
    print(f"\n{entry['file']} via {via}: {len(indices)} rows agree, largest |difference| {worst:.3g}")


def complete_rows(entry):
    """Rows with no missing value."""
    def present(row):
        values = row.values() if isinstance(row, dict) else row
        return all(v is not None for v in values)

    return [i for i, row in enumerate(entry["rows"]) if present(row)]


# --- the reference ------------------------------------------------------------------------


def test_onnxruntime_is_the_reference(entry):
    """onnxruntime answers the same twice (and as when the corpus was made), agrees with
    the library that trained the model, and answers every row, missing values included."""
    sess = reference.session(entry["path"])
    for _ in range(2):
        assert reference.run(sess, entry["inputs"], entry["rows"], entry["classes"]) == entry["onnxruntime"]
    rows = list(range(len(entry["rows"])))
    want, native = entry["onnxruntime"], entry["native"]
    if entry["kind"] == "regressor":
        assert np.isfinite(floats(want["scores"])).all()
        worst = assert_values(
            entry, rows, native["scores"], want["scores"], "the training library", "scores", NATIVE_RTOL, NATIVE_ATOL
        )
    else:
        assert np.isfinite(floats(want["probabilities"])).all()
        worst = assert_values(
            entry, rows, native["probabilities"], want["probabilities"], "the training library", "probabilities",
            NATIVE_RTOL, NATIVE_ATOL,
        )
        assert_labels(entry, rows, native["labels"], want["labels"], want["probabilities"], "the training library",
                      NATIVE_RTOL, NATIVE_ATOL)
    missing = len(rows) - len(complete_rows(entry))
    assert (missing > 0) == entry["takes_missing"], (missing, entry["takes_missing"])
    print(f"\n{entry['file']} ({entry['producer']}): {len(rows)} rows ({missing} with missing values); "
          f"onnxruntime against the training library: largest |difference| {worst:.3g}")


def test_corpus_holds_what_issue_18_names(corpus_dir):
    """The operators, inputs and options the corpus is meant to cover are in it."""
    ops, multi_input, zipmap, no_zipmap, string_labels, modes = set(), [], [], [], [], set()
    for name in corpus.MODELS:
        record = json.loads((corpus_dir / f"{name}.json").read_text())
        model = onnx.load(str(corpus_dir / record["file"]))
        types = {n.op_type for n in model.graph.node}
        ops |= types
        if len(record["inputs"]) > 1 and any(i["type"] == "string" for i in record["inputs"]):
            multi_input.append(name)
        if record["kind"] == "classifier":
            (zipmap if "ZipMap" in types else no_zipmap).append(name)
            string_labels += [name] if isinstance(record["onnxruntime"]["labels"][0], str) else []
        for node in model.graph.node:
            if node.op_type in TREE_OPS:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                modes |= {m.decode() if isinstance(m, bytes) else m for m in attrs.get("nodes_modes", [])}
    wanted = {
        "Scaler", "Imputer", "OneHotEncoder", "LabelEncoder", "ArrayFeatureExtractor", "FeatureVectorizer",
        "Binarizer", "ZipMap", "SVMClassifier", "SVMRegressor", "LinearClassifier", "Cast", "Concat", "Reshape",
    }
    assert wanted <= ops, sorted(wanted - ops)
    assert ops & TREE_OPS, sorted(ops)
    assert multi_input and zipmap and no_zipmap and string_labels, (multi_input, zipmap, no_zipmap, string_labels)
    # LightGBM's categorical splits (onnxmltools writes a set as a chain of equalities).
    assert {"BRANCH_EQ"} & modes or {"BRANCH_MEMBER"} & modes, sorted(modes)
    print(f"\noperators: {sorted(ops)}\nbranch modes: {sorted(modes)}\nmulti-input: {multi_input}\n"
          f"ZipMap: {zipmap}\nno ZipMap: {no_zipmap}\nstring labels: {string_labels}")


# --- converter inspect --------------------------------------------------------------------


def test_converter_inspect_describes_file(entry):
    done = subprocess.run([CONVERTER_BIN, "inspect", entry["path"], "--json"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"converter inspect failed:\n{done.stdout}{done.stderr}"
    summary = json.loads(done.stdout)
    graph = onnx.load(str(entry["path"])).graph
    nodes = Counter((n.domain or "ai.onnx", n.op_type) for n in graph.node)
    assert {(o["domain"], o["op_type"]): o["count"] for o in summary["operators"]} == dict(nodes)
    assert [(i["name"], i["elem_type"]) for i in summary["inputs"]] == [
        (i["name"], i["type"]) for i in entry["inputs"]
    ]
    assert [o["name"] for o in summary["outputs"]] == entry["outputs"]
    ensembles = [n for n in graph.node if n.op_type in TREE_OPS]
    assert len(summary["tree_ensembles"]) == len(ensembles), [e["node"] for e in summary["tree_ensembles"]]
    for node, described in zip(ensembles, summary["tree_ensembles"]):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        trees = len(attrs["tree_roots"]) if "tree_roots" in attrs else len(set(attrs["nodes_treeids"]))
        assert described["trees"] == trees, (node.name, described)
    text = subprocess.run([CONVERTER_BIN, "inspect", entry["path"]], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and text.stdout, text.stderr


# --- the function, protocol by protocol -----------------------------------------------------


def test_function_starts(function):
    function.url()


def post(url, body):
    response = requests.post(url, json=body, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, f"POST {url}: {response.status_code} {response.text[:2000]}"
    return response.json()


def test_predict(entry, function):
    rows = list(range(len(entry["rows"])))
    if entry["kind"] == "regressor":
        answer = post(f"{function.url()}/predict", {"input": entry["rows"]})
        assert_answers(entry, rows, scores=answer["prediction"], via="/predict")
    else:
        answer = post(f"{function.url()}/predict?probabilities=true", {"input": entry["rows"]})
        assert "probabilities" in answer, sorted(answer)
        assert_answers(entry, rows, answer["prediction"], answer["probabilities"], via="/predict")


def model_name(base):
    response = requests.get(f"{base}/v1/models", timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, response.text
    (only,) = response.json()["models"]
    return only


def test_kserve_v1(entry, function):
    base = function.url()
    answer = post(f"{base}/v1/models/{model_name(base)}:predict", {"instances": entry["rows"]})
    rows = list(range(len(entry["rows"])))
    if entry["kind"] == "regressor":
        assert_answers(entry, rows, scores=answer["predictions"], via="KServe V1")
    else:
        assert_answers(entry, rows, answer["predictions"], via="KServe V1")


def infer_inputs(entry, indices, binary):
    """One InferInput per graph input, as tritonclient users build them."""
    feeds = reference.feeds(entry["inputs"], [entry["rows"][i] for i in indices])
    tensors = []
    for graph_input in entry["inputs"]:
        values = feeds[graph_input["name"]]
        tensor = triton.InferInput(graph_input["name"], list(values.shape), DATATYPES[graph_input["type"]])
        tensor.set_data_from_numpy(values, binary_data=binary)
        tensors.append(tensor)
    return tensors


def text(values):
    return [v.decode() if isinstance(v, bytes) else v for v in np.ravel(values).tolist()]


def check_v2(entry, function, indices, binary):
    base = function.url()
    client = triton.InferenceServerClient(url=base.removeprefix("http://"), network_timeout=HTTP_TIMEOUT_S)
    try:
        outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in entry["outputs"]]
        result = client.infer(model_name(base), infer_inputs(entry, indices, binary), outputs=outputs)
    finally:
        client.close()
    served = [o["name"] for o in result.get_response()["outputs"]]
    got = {n: result.as_numpy(n) for n in entry["outputs"]}
    assert all(v is not None for v in got.values()), f"asked for {entry['outputs']}, the function answered {served}"
    via = f"V2 {'binary' if binary else 'JSON'}"
    if entry["kind"] == "regressor":
        assert_answers(entry, indices, scores=got[entry["outputs"][0]], via=via)
    else:
        labels, probabilities = (got[n] for n in entry["outputs"][:2])
        assert_answers(entry, indices, text(labels), probabilities, via=via)


def test_v2_json(entry, function):
    check_v2(entry, function, complete_rows(entry), binary=False)


def test_v2_binary(entry, function):
    check_v2(entry, function, list(range(len(entry["rows"]))), binary=True)
