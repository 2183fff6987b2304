"""Explanations against shap (issue 21's proof): scikit-learn and LightGBM tree models,
exported with skl2onnx and onnxmltools, annotated with `converter annotate` from their
training CSV, served by the real `function` binary; every SHAP value and expected value
of KServe V1's `:explain` equals `shap.TreeExplainer(model,
feature_perturbation="tree_path_dependent")`'s on the same rows.

The models are the ones whose covers are training-row counts, which a CSV reproduces:
ExtraTrees and single trees (no bootstrap), gradient boosting without subsampling, and
LightGBM (its `internal_count`). XGBoost's covers are sums of hessians, which rows cannot
reproduce: for XGBoost, only additivity is checked (the values plus the expected value
add up to the margin the model computes). Annotated files must still pass the `onnx`
checker and answer in onnxruntime exactly as before.

Values are compared within 1e-5 relative, with a floor of 1e-5 of the largest value of
the model's explanation (a value that cancels to ~0 is only as exact as its terms: the
function sums in double precision over float32 thresholds and leaf weights, shap over
the model's own doubles).
"""

import csv
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import requests
import shap
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from test_onnx_interop import CONVERTER_BIN, FUNCTION_BIN, HTTP_TIMEOUT_S, free_port, stop, wait_ready

RTOL = 1e-5


def iris():
    data = load_iris()
    return data.data, data.target


def cancer():
    data = load_breast_cancer()
    return data.data[:, :8], data.target


def diabetes():
    data = load_diabetes()
    return data.data, data.target


def sklearn_cases():
    """(name, fitted model, X, y, how shap's output maps to ours)."""
    x, y = iris()
    yield "extra-trees-classifier", ExtraTreesClassifier(n_estimators=30, max_depth=6, random_state=0).fit(x, y), x, y
    yield "decision-tree-classifier", DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, y), x, y
    xc, yc = cancer()
    yield "gradient-boosting-binary", GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(xc, yc), xc, yc
    xd, yd = diabetes()
    yield "extra-trees-regressor", ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=0).fit(xd, yd), xd, yd
    yield "decision-tree-regressor", DecisionTreeRegressor(max_depth=6, random_state=0).fit(xd, yd), xd, yd
    yield "gradient-boosting-regressor", GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(xd, yd), xd, yd


def lightgbm_cases():
    import lightgbm

    xd, yd = diabetes()
    regressor = lightgbm.LGBMRegressor(n_estimators=40, num_leaves=15, min_child_samples=5, verbose=-1, random_state=0)
    yield "lightgbm-regressor", regressor.fit(xd, yd), xd, yd
    xc, yc = cancer()
    binary = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1, random_state=0)
    yield "lightgbm-binary", binary.fit(xc, yc), xc, yc


def export(name, model, x):
    if name.startswith("lightgbm"):
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        return convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, x.shape[1]]))], zipmap=False)
    from skl2onnx import to_onnx

    return to_onnx(model, x[:1].astype(np.float32))


def write_csv(path, x, y):
    with open(path, "w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow([f"x{i}" for i in range(x.shape[1])] + ["target"])
        for features, target in zip(x.astype(np.float32), y):
            rows.writerow([repr(float(v)) for v in features] + [target])


def shap_reference(model, rows):
    """shap's values as (rows, features, outputs) and expected values (outputs,)."""
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    values = np.asarray(explainer.shap_values(rows.astype(np.float64)))
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if values.ndim == 2:
        values = values[:, :, None]
    elif values.shape[0] == len(expected) and values.shape[0] != rows.shape[0]:
        values = np.transpose(values, (1, 2, 0))
    return values, expected


@pytest.fixture(scope="module")
def serve(request, tmp_path_factory):
    """Serves an ONNX file with the real binary; returns its base URL."""

    def start(path):
        log = tmp_path_factory.mktemp("explain-server") / "function.log"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MODEL_PATH", "MODEL_NAME", "K_SERVICE")}
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [FUNCTION_BIN, "--model", path, "--port", str(port), "--host", "127.0.0.1", "--model-name", "m"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            )
        request.addfinalizer(lambda: stop(process, log))
        base = f"http://127.0.0.1:{port}"
        assert wait_ready(process, base), log.read_text(errors="replace")
        return base

    return start


def annotate(tmp_path, name, model, x, y):
    onnx_path = tmp_path / f"{name}.onnx"
    onnx_path.write_bytes(export(name, model, x).SerializeToString())
    data = tmp_path / f"{name}.csv"
    write_csv(data, x, y)
    annotated = tmp_path / f"{name}-annotated.onnx"
    features = ",".join(f"x{i}" for i in range(x.shape[1]))
    subprocess.run(
        [CONVERTER_BIN, "annotate", onnx_path, "--data", data, "--target", "target", "--features", features, "-o", annotated],
        check=True,
        capture_output=True,
    )
    return onnx_path, annotated


def explain(base, rows):
    reply = requests.post(f"{base}/v1/models/m:explain", json={"instances": rows.tolist()}, timeout=HTTP_TIMEOUT_S)
    assert reply.status_code == 200, reply.text
    explanations = reply.json()["explanations"]
    values = np.array([e["shap_values"] for e in explanations], dtype=np.float64)
    expected = np.array(explanations[0]["expected_value"], dtype=np.float64)
    return values, expected


def assert_close(got, want, what):
    scale = max(np.abs(want).max(), 1e-12)
    tolerance = RTOL * np.maximum(np.abs(want), scale)
    worst = np.argmax(np.abs(got - want) - tolerance)
    assert np.all(np.abs(got - want) <= tolerance), (
        f"{what}: {got.flat[worst]} vs shap {want.flat[worst]} (largest |value| {scale})"
    )


CASES = [case[0] for case in sklearn_cases()] + ["lightgbm-regressor", "lightgbm-binary"]


@pytest.mark.parametrize("name", CASES)
def test_values_equal_shaps(name, tmp_path, serve):
    cases = {case[0]: case for case in [*sklearn_cases(), *lightgbm_cases()]}
    _, model, x, y = cases[name]
    original, annotated = annotate(tmp_path, name, model, x, y)
    rows = x[::7].astype(np.float32)

    # The annotated file is as valid and answers as before.
    onnx.checker.check_model(onnx.load(annotated), full_check=True)
    before = ort.InferenceSession(original).run(None, {ort.InferenceSession(original).get_inputs()[0].name: rows})
    after = ort.InferenceSession(annotated).run(None, {ort.InferenceSession(annotated).get_inputs()[0].name: rows})
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)

    got, got_expected = explain(serve(annotated), rows)
    want, want_expected = shap_reference(model, rows)
    if got.shape[2] != want.shape[2]:
        # A binary classifier: shap's one margin or its two-class probabilities, ours per
        # class of the ensemble; compare the class shap calls positive.
        want = want[:, :, -1:]
        want_expected = want_expected[-1:]
        got = got[:, :, -1:]
        got_expected = got_expected[-1:]
    assert got.shape == want.shape, f"{name}: {got.shape} vs shap {want.shape}"
    assert_close(got, want, f"{name} shap values")
    assert_close(got_expected, want_expected, f"{name} expected value")
    print(f"{name}: {got.size} values equal shap's, largest |difference| {np.abs(got - want).max():.2e}")


def linear_cases():
    """(name, fitted linear model, X, y): scikit-learn's linear models as skl2onnx
    exports them (LinearClassifier, LinearRegressor)."""
    x, y = iris()
    yield "logistic-multinomial", LogisticRegression(max_iter=1000).fit(x, y), x, y
    xc, yc = cancer()
    yield "logistic-binary", LogisticRegression(max_iter=5000).fit(xc, yc), xc, yc
    xd, yd = diabetes()
    yield "linear-regression", LinearRegression().fit(xd, yd), xd, yd
    yield "ridge", Ridge(alpha=0.5).fit(xd, yd), xd, yd


@pytest.mark.parametrize("name", [case[0] for case in linear_cases()])
def test_linear_values_equal_shaps(name, tmp_path, serve):
    """Annotated with its training rows' means, a linear model's explanations equal
    shap.LinearExplainer's with those rows as the background (all of them: shap's
    Independent masker samples 100 unless told otherwise), in the margin space."""
    _, model, x, y = next(case for case in linear_cases() if case[0] == name)
    original, annotated = annotate(tmp_path, name, model, x, y)
    rows = x[::7].astype(np.float32)
    onnx.checker.check_model(onnx.load(annotated), full_check=True)

    got, got_expected = explain(serve(annotated), rows)
    explainer = shap.LinearExplainer(model, shap.maskers.Independent(x, max_samples=len(x)))
    want = np.asarray(explainer.shap_values(rows.astype(np.float64)), dtype=np.float64)
    want_expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if want.ndim == 2:
        want = want[:, :, None]
    if got.shape[2] != want.shape[2]:
        # A binary model exported with a coefficient row per class: shap explains the
        # positive class's margin, which is the last row.
        got, got_expected = got[:, :, -1:], got_expected[-1:]
    assert got.shape == want.shape, f"{name}: {got.shape} vs shap {want.shape}"
    assert_close(got, want, f"{name} shap values")
    assert_close(got_expected, want_expected, f"{name} expected value")
    print(f"{name}: {got.size} values equal shap's, largest |difference| {np.abs(got - want).max():.2e}")


def test_xgboost_explanations_add_up_to_the_margin(tmp_path, serve):
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = diabetes()
    model = xgboost.XGBRegressor(n_estimators=30, max_depth=4, random_state=0).fit(x, y)
    onnx_model = convert_xgboost(model, initial_types=[("input", FloatTensorType([None, x.shape[1]]))])
    original = tmp_path / "xgb.onnx"
    original.write_bytes(onnx_model.SerializeToString())
    data = tmp_path / "xgb.csv"
    write_csv(data, x, y)
    annotated = tmp_path / "xgb-annotated.onnx"
    features = ",".join(f"x{i}" for i in range(x.shape[1]))
    subprocess.run(
        [CONVERTER_BIN, "annotate", original, "--data", data, "--target", "target", "--features", features, "-o", annotated],
        check=True,
        capture_output=True,
    )
    rows = x[::5].astype(np.float32)
    got, expected = explain(serve(annotated), rows)
    session = ort.InferenceSession(annotated)
    margin = session.run(None, {session.get_inputs()[0].name: rows})[0].reshape(len(rows), -1)
    totals = expected[None, :] + got.sum(axis=1)
    np.testing.assert_allclose(totals, margin, rtol=1e-5, atol=1e-4)
