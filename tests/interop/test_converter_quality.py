"""How good the converter's forests are, next to scikit-learn's on the same rows and
folds: for each data set, 5 folds (KFold, shuffled, seed 0); on each fold `converter
train` fits a 100-tree forest on the training rows (--folds 2, so the exported model is
trained on all of them) and onnxruntime runs the exported file on the held-out rows;
scikit-learn fits `RandomForestClassifier(100)` / `RandomForestRegressor(100)` behind a
`ColumnTransformer` of `SimpleImputer()` (numbers) and `OneHotEncoder(handle_unknown=
"ignore")` (categories, a missing one its own category) on the same training rows. Both
numbers are printed per data set (BENCHMARKS.md quotes them); the forest must be within
2 points of accuracy, or 0.05 of R2, of scikit-learn's.

Data sets: Iris, wine, breast cancer (classification), diabetes (regression), and a
generated mixed table (categorical columns, missing cells, string classes).

Run through tests/interop/run.sh (`-k quality` for this file alone).
"""

import csv

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from test_converter_csv import converter

FOLDS = 5
MISSING = {"", "NA", "NaN", "null", "?"}
ACCURACY_MARGIN = 0.02
R2_MARGIN = 0.05


def sklearn_set(loader):
    data = loader()
    names = [n.replace(" ", "_").replace("(", "").replace(")", "").replace("/", "_") for n in data.feature_names]
    columns = {n: [f"{v:.6g}" for v in data.data[:, j]] for j, n in enumerate(names)}
    return names, columns, [str(v) for v in data.target]


def mixed_set():
    """1000 rows: two categorical columns (one with accented, spaced names), three
    numeric ones, 5-15% of cells missing, three string classes that depend on all."""
    rng = np.random.default_rng(11)
    n = 1000
    region = rng.choice(["Île-de-France", "Bretagne", "Provence Alpes", "Nord", "Alsace"], n)
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.5, 0.3, 0.2])
    age = rng.integers(18, 80, n).astype(float)
    income = rng.normal(50, 15, n)
    tenure = rng.exponential(5, n)
    score = (
        0.04 * (age - 50)
        + np.where(region == "Bretagne", 1.2, 0.0)
        - np.where(region == "Nord", 0.8, 0.0)
        + np.where(plan == "enterprise", -1.5, np.where(plan == "pro", 0.7, 0.0))
        + 0.05 * (income - 50)
        - 0.15 * tenure
        + rng.normal(0, 0.6, n)
    )
    target = np.where(score < -0.7, "leaves", np.where(score < 0.7, "stays", "upgrades"))
    columns = {
        "age": [f"{v:.0f}" for v in age],
        "region": list(region),
        "income": [f"{v:.2f}" for v in income],
        "plan": list(plan),
        "tenure": [f"{v:.3f}" for v in tenure],
    }
    for name, rate, token in [("age", 0.1, ""), ("income", 0.08, "NA"), ("region", 0.05, ""), ("plan", 0.06, "?")]:
        for i in np.flatnonzero(rng.random(n) < rate):
            columns[name][i] = token
    return list(columns), columns, list(target)


DATA_SETS = {
    "iris": (lambda: sklearn_set(load_iris), "classification"),
    "wine": (lambda: sklearn_set(load_wine), "classification"),
    "breast-cancer": (lambda: sklearn_set(load_breast_cancer), "classification"),
    "diabetes": (lambda: sklearn_set(load_diabetes), "regression"),
    "mixed": (mixed_set, "classification"),
}


def write_csv(path, names, columns, target, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow([*names, "target"])
        for i in rows:
            out.writerow([*(columns[n][i] for n in names), target[i]])


def categorical(names, columns):
    return [n for n in names if any(v not in MISSING and not is_number(v) for v in columns[n])]


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def onnxruntime_predict(path, names, columns, rows, cats):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]

    def numbers(name):
        return np.array([np.nan if columns[name][i] in MISSING else float(columns[name][i]) for i in rows], dtype=np.float32)

    if inputs == ["input"]:
        feeds = {"input": np.stack([numbers(n) for n in names], axis=1)}
    else:
        feeds = {}
        for name in inputs:
            if name in cats:
                cells = ["" if columns[name][i] in MISSING else columns[name][i] for i in rows]
                feeds[name] = np.array(cells, dtype=object).reshape(-1, 1)
            else:
                feeds[name] = numbers(name).reshape(-1, 1)
    return session.run(None, feeds)[0].ravel()


def sklearn_frame(names, columns, rows, cats):
    """Rows as an object array: numbers as floats (NaN when missing), categories as text
    ("" when missing, a category of its own, as the converter does)."""
    out = np.empty((len(rows), len(names)), dtype=object)
    for j, name in enumerate(names):
        for k, i in enumerate(rows):
            cell = columns[name][i]
            if name in cats:
                out[k, j] = "" if cell in MISSING else cell
            else:
                out[k, j] = np.nan if cell in MISSING else float(cell)
    return out


def sklearn_pipeline(names, cats, task):
    numeric = [j for j, n in enumerate(names) if n not in cats]
    categorical_columns = [j for j, n in enumerate(names) if n in cats]
    prepare = ColumnTransformer(
        [
            ("numbers", SimpleImputer(), numeric),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical_columns),
        ]
    )
    forest = (RandomForestRegressor if task == "regression" else RandomForestClassifier)(n_estimators=100, random_state=0)
    return make_pipeline(prepare, forest)


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_forest_is_within_reach_of_scikit_learn_on_the_same_folds(name, tmp_path):
    load, task = DATA_SETS[name]
    names, columns, target = load()
    cats = categorical(names, columns)
    n = len(target)
    ours, theirs, truth = np.empty(n, dtype=object), np.empty(n, dtype=object), np.array(target, dtype=object)
    for fold, (train, test) in enumerate(KFold(FOLDS, shuffle=True, random_state=0).split(np.arange(n))):
        data = tmp_path / f"{name}-{fold}.csv"
        write_csv(data, names, columns, target, train)
        model = tmp_path / f"{name}-{fold}.onnx"
        converter("train", "--data", data, "--target", "target", "--task", task, "--trees", "100", "--folds", "2", "-o", model)
        ours[test] = onnxruntime_predict(model, names, columns, test, cats)
        pipeline = sklearn_pipeline(names, cats, task)
        y = np.array([float(target[i]) for i in train]) if task == "regression" else np.array([target[i] for i in train])
        pipeline.fit(sklearn_frame(names, columns, train, cats), y)
        theirs[test] = pipeline.predict(sklearn_frame(names, columns, test, cats))
    if task == "regression":
        y = truth.astype(float)
        ours_score, theirs_score = r2_score(y, ours.astype(float)), r2_score(y, theirs.astype(float))
        print(f"\n{name}: r2 converter {ours_score:.4f}, scikit-learn {theirs_score:.4f} ({n} rows, {FOLDS} folds)")
        assert ours_score >= theirs_score - R2_MARGIN
    else:
        # Labels compare as text: the converter answers int64 or names, sklearn the file's text.
        ours_score = np.mean([str(o) == str(t) for o, t in zip(ours, truth)])
        theirs_score = np.mean([str(o) == str(t) for o, t in zip(theirs, truth)])
        print(f"\n{name}: accuracy converter {ours_score:.4f}, scikit-learn {theirs_score:.4f} ({n} rows, {FOLDS} folds)")
        assert ours_score >= theirs_score - ACCURACY_MARGIN
