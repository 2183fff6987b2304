"""The converter on a real-looking table, checked from outside: tests/data/churn-mixed.csv
(numeric columns with empty and `NA` cells, categorical columns with accented, spaced
names and empty or `?` cells, a string target) -> `converter train` -> ONNX with one
input per column -> the real `function` binary. Records with null numbers, null
categories (the model's missing category, the empty string, which onnxruntime is given)
and categories never seen in training are answered through /predict, KServe V1 and Open
Inference V2 exactly as onnxruntime answers the same rows: labels equal, probabilities
within 1e-5.

Run through tests/interop/run.sh; the server fixture and helpers are test_onnx_interop's.
"""

import csv
import json
import urllib.request

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from test_converter_csv import converter
from test_onnx_interop import ROOT, post_json, server  # noqa: F401

FIXTURE = ROOT / "tests" / "data" / "churn-mixed.csv"
TARGET = "churn"
NUMERIC = ["age", "income", "tenure"]
CATEGORICAL = ["region", "plan"]
COLUMNS = ["age", "region", "income", "plan", "tenure"]
MISSING = {"", "NA", "NaN", "null", "?"}
PROBABILITY_ATOL = 1e-5
TIE_GAP = 1e-6

CONVERTER_MODELS = {
    "mixed-forest": ["--model", "forest", "--trees", "40"],
    "mixed-tree": ["--model", "tree", "--max-depth", "6"],
    "mixed-logistic": ["--model", "logistic"],
}


@pytest.fixture(scope="module", params=list(CONVERTER_MODELS), ids=list(CONVERTER_MODELS))
def model_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / f"{request.param}.onnx"
    converter("train", "--data", FIXTURE, "--target", TARGET, *CONVERTER_MODELS[request.param], "-o", path)
    return path


def f32(text):
    """A cell as the f32 both sides see (None when missing); as a JSON number it is the
    exact decimal of that f32, so the server parses the same bits."""
    return None if text in MISSING else float(np.float32(text))


def records():
    """Every row of the file as a record, then rows the file never had: unseen
    categories, every number missing, every category missing."""
    with open(FIXTURE, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        record = {c: f32(row[c].strip()) for c in NUMERIC}
        record.update({c: None if row[c].strip() in MISSING else row[c].strip() for c in CATEGORICAL})
        out.append({c: record[c] for c in COLUMNS})
    base = dict(out[0])
    out.append({**base, "region": "Atlantis"})
    out.append({**base, "region": "Atlantis", "plan": "platinum"})
    out.append({**base, "age": None, "income": None, "tenure": None})
    out.append({**base, "region": None, "plan": None})
    out.append({**base, "region": "", "plan": ""})
    out.append({"age": None, "region": "Nowhere", "income": None, "plan": None, "tenure": None})
    return out


def onnxruntime_answers(model_path, batch):
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feeds = {}
    for column in COLUMNS:
        values = [r[column] for r in batch]
        if column in CATEGORICAL:
            feeds[column] = np.array(["" if v is None else v for v in values], dtype=object).reshape(-1, 1)
        else:
            feeds[column] = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(-1, 1)
    label, probabilities = session.run(["label", "probabilities"], feeds)
    return np.array(label), probabilities.astype(np.float64)


def untied(probabilities):
    """Rows whose label does not hang on a tie. With two classes a forest's label is
    class 1 when its vote share is above 0.5; at exactly half the votes onnxruntime's
    answer depends on how f32 rounds the sum (0.50000006 for 20 votes of 1/40), the
    function's on the exact share (class 0, as in training)."""
    ranked = np.sort(probabilities, axis=1)
    unique = ranked[:, -1] - ranked[:, -2] > TIE_GAP
    return unique & (np.abs(probabilities[:, 1] - 0.5) > TIE_GAP)


def assert_same(got_labels, got_probabilities, want_labels, want_probabilities, what):
    np.testing.assert_allclose(got_probabilities, want_probabilities, rtol=0, atol=PROBABILITY_ATOL, err_msg=what)
    unique = untied(want_probabilities)
    assert unique.sum() > len(unique) * 0.8, f"{what}: {unique.sum()} untied rows"
    assert (np.array(got_labels)[unique] == want_labels[unique]).all(), what


def test_graph_takes_one_input_per_column_named_as_the_column(model_path):
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["missing_category"] == ""
    kinds = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert list(kinds) == COLUMNS
    for column in COLUMNS:
        want = onnx.TensorProto.STRING if column in CATEGORICAL else onnx.TensorProto.FLOAT
        assert kinds[column] == want, column


def test_records_with_missing_and_unseen_values_are_answered_as_onnxruntime_answers(model_path, server):
    batch = records()
    want_labels, want_probabilities = onnxruntime_answers(model_path, batch)
    assert set(want_labels.tolist()) <= {"leaves", "stays"}

    answer = post_json(f"{server}/predict?probabilities=true", {"input": batch})
    assert_same(answer["prediction"], np.array(answer["probabilities"]), want_labels, want_probabilities, "/predict")

    with urllib.request.urlopen(f"{server}/v1/models", timeout=10) as response:
        (name,) = json.loads(response.read())["models"]
    v1 = post_json(f"{server}/v1/models/{name}:predict", {"instances": batch})
    got = np.array(v1["predictions"])
    unique = untied(want_probabilities)
    assert (got[unique] == want_labels[unique]).all(), "KServe V1"

    inputs = [
        {
            "name": column,
            "shape": [len(batch), 1],
            "datatype": "BYTES" if column in CATEGORICAL else "FP32",
            "data": [r[column] for r in batch],
        }
        for column in COLUMNS
    ]
    v2 = post_json(f"{server}/v2/models/{name}/infer", {"inputs": inputs})
    outputs = {o["name"]: o for o in v2["outputs"]}
    v2_probabilities = np.array(outputs["probabilities"]["data"], dtype=np.float64).reshape(len(batch), -1)
    assert_same(outputs["label"]["data"], v2_probabilities, want_labels, want_probabilities, "Open Inference V2")

    # The rows with unseen categories were answered like any other row, not refused.
    print(f"\n{model_path.name}: {len(batch)} records, last five {answer['prediction'][-5:]}")
