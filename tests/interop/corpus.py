"""The models users bring: a corpus of ONNX files made the way data scientists make them
(scikit-learn pipelines exported by skl2onnx, LightGBM and XGBoost models exported by
onnxmltools, with their default options unless a file says otherwise), each with the rows
to ask it about and what onnxruntime and the training library answer for them.

    python tests/interop/corpus.py target/interop-corpus

writes, for every entry of MODELS, NAME.onnx and NAME.json: the graph inputs, the rows
(positional lists, or records by column name for a model with one graph input per
column; `null` where a value is missing), onnxruntime's answers (single-threaded) and the
training library's own (`predict` / `predict_proba` of the fitted estimator on the same
rows). Everything is seeded: the same packages write the same files. Small synthetic data
(a few hundred rows), so the whole corpus takes seconds. test_models_users_bring.py reads
it; nothing here decides what is close enough.
"""

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import lightgbm
import numpy as np
import onnx
import onnxruntime
import xgboost
from onnx import TensorProto, helper
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer, LabelEncoder, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import SVC, SVR

from onnxruntime_reference import as_json, graph_inputs, rows_as_json, run, session

SEED = 20261202
N_SAMPLES = 300
N_FEATURES = 6
# Share of training cells made missing for the models that learn from missing values.
MISSING_SHARE = 0.1
# Evaluation rows: the first training rows, random rows in a box a little wider than the
# data, and (where the model takes them) rows with missing values.
TRAINING_ROWS = 30
RANDOM_ROWS = 30
MISSING_ROWS = 20
INPUT = "input"  # the graph input onnxmltools files get (users name it; this is common)


@dataclass
class Entry:
    """One corpus file before it is written."""

    model: onnx.ModelProto
    # Positional rows (2-D float32, NaN for missing) or records (column -> 1-D array).
    rows: object
    # The fitted library's answers on `rows`: labels and probabilities, or scores.
    native: dict
    # Class labels in probability-column order (None for a regressor).
    classes: list | None
    about: str
    missing: bool = False


# --- data -----------------------------------------------------------------------------------


def rng(salt=0):
    return np.random.default_rng(SEED + salt)


def classification(n_classes):
    x, y = make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=4, n_redundant=1,
        n_classes=n_classes, n_clusters_per_class=1, flip_y=0.03, random_state=SEED,
    )
    return x.astype(np.float32), y


def regression():
    x, y = make_regression(n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=4, noise=5.0, random_state=SEED)
    return x.astype(np.float32), y


def with_holes(x, salt=1):
    """`x` with MISSING_SHARE of its cells NaN: training data with missing values."""
    x = x.copy()
    x[rng(salt).random(x.shape) < MISSING_SHARE] = np.nan
    return x


def evaluation_rows(x, missing, salt=2):
    """Training rows, random rows 10% beyond the data's box and, when `missing`: a row
    with every value missing, one per column with that column missing, random holes."""
    r = rng(salt)
    low, high = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    margin = 0.1 * (high - low)
    parts = [x[:TRAINING_ROWS], r.uniform(low - margin, high + margin, size=(RANDOM_ROWS, x.shape[1]))]
    if missing:
        holes = r.uniform(low, high, size=(MISSING_ROWS, x.shape[1]))
        holes[0] = np.nan
        for column in range(x.shape[1]):
            holes[1 + column, column] = np.nan
        random_holes = holes[1 + x.shape[1]:]
        random_holes[r.random(random_holes.shape) < 0.3] = np.nan
        parts.append(holes)
    return np.concatenate(parts).astype(np.float32)


def penguins(n, salt=3):
    """Penguin-like records: two string columns, two float columns and an int64 year;
    species depends on all of them."""
    r = rng(salt)
    data = {
        "island": r.choice(["Biscoe", "Dream", "Torgersen"], n).astype(object),
        "sex": r.choice(["female", "male"], n).astype(object),
        "bill_length": r.normal(44.0, 5.0, n).astype(np.float32),
        "flipper_length": r.normal(200.0, 14.0, n).astype(np.float32),
        "year": r.choice([2007, 2008, 2009], n).astype(np.int64),
    }
    score = (
        data["bill_length"] / 5 + 2.0 * (data["island"] == "Biscoe") + data["flipper_length"] / 20
        - 0.5 * (data["sex"] == "female") + 0.3 * (data["year"] - 2008) + r.normal(0, 0.8, n)
    )
    tertile = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    return data, np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object)[tertile]


def as_frame(records):
    """Records as the 2-D object array scikit-learn's ColumnTransformer takes by index."""
    return np.column_stack([np.asarray(v, dtype=object) for v in records.values()])


# --- models ---------------------------------------------------------------------------------


def sklearn_file(estimator, x, zipmap=True, about="", missing=False):
    """A scikit-learn estimator exported by skl2onnx with its defaults (ZipMap on for a
    classifier unless `zipmap` is False), asked about `evaluation_rows`."""
    options = None if zipmap else {id(final_step(estimator)): {"zipmap": False}}
    onx = to_onnx(estimator, x[:1], options=options)
    rows = evaluation_rows(x, missing)
    return Entry(onx, rows, native_answers(estimator, rows), classes_of(estimator), about, missing)


def final_step(estimator):
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def classes_of(estimator):
    classes = getattr(estimator, "classes_", None)
    return None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes]


def native_answers(estimator, rows):
    if hasattr(estimator, "predict_proba"):
        return {"labels": estimator.predict(rows), "probabilities": estimator.predict_proba(rows)}
    return {"scores": estimator.predict(rows)}


def scaler_logistic(zipmap):
    x, y = classification(3 if zipmap else 2)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    return sklearn_file(pipe, x, zipmap, "StandardScaler + LogisticRegression")


def imputer_gradient_boosting():
    x, y = classification(2)
    x = with_holes(x)
    boosting = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=SEED)
    pipe = make_pipeline(SimpleImputer(strategy="median"), boosting).fit(x, y)
    return sklearn_file(pipe, x, about="SimpleImputer + GradientBoostingClassifier, trained with NaN", missing=True)


def hist_gradient_boosting_classifier():
    x, y = classification(3)
    x = with_holes(x)
    model = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=SEED).fit(x, y)
    return sklearn_file(model, x, zipmap=False, about="HistGradientBoostingClassifier trained with NaN", missing=True)


def hist_gradient_boosting_regressor():
    x, y = regression()
    x = with_holes(x)
    model = HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=15, random_state=SEED).fit(x, y)
    return sklearn_file(model, x, about="HistGradientBoostingRegressor trained with NaN", missing=True)


def scaler_svc():
    x, y = classification(3)
    pipe = make_pipeline(StandardScaler(), SVC(probability=True, random_state=SEED)).fit(x, y)
    return sklearn_file(pipe, x, about="StandardScaler + SVC(probability=True)")


def scaler_svr():
    x, y = regression()
    pipe = make_pipeline(StandardScaler(), SVR(C=100.0)).fit(x, y)
    return sklearn_file(pipe, x, about="StandardScaler + SVR")


def label_encoded_target():
    """A string target encoded with LabelEncoder to train on (as XGBoost and many user
    scripts require), the encoder's classes appended to the graph as an ai.onnx.ml
    LabelEncoder (int64 -> string), so the file answers with the class names."""
    x, y = classification(3)
    encoder = LabelEncoder().fit(np.array(["bronze", "silver", "gold"])[y])
    codes = encoder.transform(np.array(["bronze", "silver", "gold"])[y])
    boosting = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=SEED)
    pipe = make_pipeline(StandardScaler(), boosting).fit(x, codes)
    onx = to_onnx(pipe, x[:1], options={id(pipe.steps[-1][1]): {"zipmap": False}})
    graph = onx.graph
    label = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{label}_code" if o == label else o for o in node.output]
    names = [str(c) for c in encoder.classes_]
    graph.node.append(helper.make_node(
        "LabelEncoder", [f"{label}_code"], [label], domain="ai.onnx.ml", name="target_names",
        keys_int64s=list(range(len(names))), values_strings=names, default_string="",
    ))
    graph.output[0].type.tensor_type.elem_type = TensorProto.STRING
    # LabelEncoder takes int64 keys from ai.onnx.ml opset 2 on.
    for opset in onx.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = max(opset.version, 2)
    rows = evaluation_rows(x, missing=False)
    native = {"labels": encoder.inverse_transform(pipe.predict(rows)), "probabilities": pipe.predict_proba(rows)}
    about = "LabelEncoder-encoded string target: StandardScaler + GradientBoostingClassifier + LabelEncoder"
    return Entry(onx, rows, native, names, about)


def column_transformer_forest():
    """One graph input per column, as skl2onnx exports a ColumnTransformer: OneHotEncoder
    (handle_unknown="ignore") and OrdinalEncoder on the string columns, StandardScaler on
    the floats, the int64 year passed through; a RandomForest on top."""
    records, species = penguins(N_SAMPLES)
    columns = list(records)
    transform = ColumnTransformer([
        ("island", OneHotEncoder(handle_unknown="ignore"), [0]),
        ("sex", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), [1]),
        ("numbers", StandardScaler(), [2, 3]),
        ("year", "passthrough", [4]),
    ])
    pipe = make_pipeline(transform, RandomForestClassifier(n_estimators=20, max_depth=6, random_state=SEED))
    pipe.fit(as_frame(records), species)
    types = {"island": StringTensorType([None, 1]), "sex": StringTensorType([None, 1])}
    types["year"] = Int64TensorType([None, 1])
    onx = to_onnx(pipe, initial_types=[(c, types.get(c, FloatTensorType([None, 1]))) for c in columns])
    more, _ = penguins(RANDOM_ROWS, salt=4)
    rows = {c: np.concatenate([records[c][:TRAINING_ROWS], more[c]]) for c in columns}
    # Categories the encoders never saw.
    rows["island"][-3:] = ["Atlantis", "", "biscoe"]
    rows["sex"][-2] = "unknown"
    table = as_frame(rows)
    native = {"labels": pipe.predict(table), "probabilities": pipe.predict_proba(table)}
    about = "ColumnTransformer (OneHotEncoder, OrdinalEncoder, StandardScaler, passthrough) + RandomForestClassifier"
    return Entry(onx, rows, native, classes_of(pipe), about)


def column_selection_binarizer():
    """A ColumnTransformer on one [N, 6] input (column subsets: ArrayFeatureExtractor),
    Binarizer on two columns, StandardScaler on three; LogisticRegression."""
    x, y = classification(2)
    transform = ColumnTransformer([
        ("scale", StandardScaler(), [0, 1, 2]),
        ("flags", Binarizer(threshold=0.0), [3, 4]),
        ("keep", "passthrough", [5]),
    ])
    pipe = make_pipeline(transform, LogisticRegression(max_iter=1000)).fit(x, y)
    about = "ColumnTransformer (column subsets, Binarizer, StandardScaler) + LogisticRegression"
    return sklearn_file(pipe, x, about=about)


def named_columns_regressor():
    """A plain Pipeline exported with one float input per named column (skl2onnx joins
    them with a FeatureVectorizer): StandardScaler + RandomForestRegressor."""
    x, y = regression()
    columns = ["rooms", "area", "age", "distance", "floor", "income"]
    pipe = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=20, max_depth=6, random_state=SEED))
    pipe.fit(x, y)
    onx = to_onnx(pipe, initial_types=[(c, FloatTensorType([None, 1])) for c in columns])
    rows = evaluation_rows(x, missing=False)
    about = "StandardScaler + RandomForestRegressor, one graph input per named column"
    return Entry(onx, {c: rows[:, k] for k, c in enumerate(columns)}, native_answers(pipe, rows), None, about)


LGBM = {"n_estimators": 30, "num_leaves": 15, "deterministic": True, "force_row_wise": True, "verbose": -1}


def lightgbm_file(estimator, x, y, about, categorical=(), zipmap=True):
    """A LightGBM model trained on `x` (with holes) exported by onnxmltools' defaults
    (ZipMap on for a classifier unless `zipmap` is False)."""
    x = with_holes(x)
    estimator.fit(x, y, categorical_feature=list(categorical) or "auto")
    extra = {} if zipmap else {"zipmap": False}
    onx = convert_lightgbm(estimator, name="lightgbm", initial_types=[(INPUT, MlFloat([None, x.shape[1]]))], **extra)
    rows = evaluation_rows(x, missing=True)
    for column in categorical:
        # Categories are whole numbers (LightGBM truncates others; a BRANCH_EQ would not):
        # the trained ones, then two never seen in training, and a missing one.
        seen = np.unique(x[~np.isnan(x[:, column]), column])
        rows[:, column] = rng(7).choice(seen, len(rows))
        rows[-3:, column] = [9.0, 42.0, np.nan]
    return Entry(onx, rows, native_answers(estimator, rows), classes_of(estimator), about, missing=True)


def lightgbm_model(kind, zipmap=True):
    about = f"LightGBM {kind} (onnxmltools, ZipMap {'on' if zipmap else 'off'}) trained with NaN"
    if kind == "regressor":
        return lightgbm_file(lightgbm.LGBMRegressor(random_state=SEED, n_jobs=1, **LGBM), *regression(), about)
    x, y = classification(2 if kind == "binary" else 3)
    return lightgbm_file(lightgbm.LGBMClassifier(random_state=SEED, n_jobs=1, **LGBM), x, y, about, zipmap=zipmap)


def lightgbm_categorical():
    """Column 0 holds 8 categories, 3 of which raise the odds: LightGBM splits on sets of
    categories (many-vs-many, as max_cat_to_onehot is below 8)."""
    x, _ = classification(2)
    r = rng(5)
    x[:, 0] = r.integers(0, 8, len(x)).astype(np.float32)
    logit = 2.5 * np.isin(x[:, 0], [1, 4, 6]) + x[:, 1] - 1.0 + r.normal(0, 0.5, len(x))
    estimator = lightgbm.LGBMClassifier(
        random_state=SEED, n_jobs=1, min_data_per_group=5, cat_smooth=1.0, max_cat_to_onehot=4, **LGBM
    )
    about = "LightGBM binary, column 0 categorical (8 categories), trained with NaN"
    return lightgbm_file(estimator, x, (logit > 0).astype(int), about, categorical=[0])


XGB = {"max_depth": 4, "tree_method": "hist", "learning_rate": 0.3}


def xgboost_model(kind, trained_with_missing=True):
    """XGBoost exported by onnxmltools' defaults, asked about rows with missing values.
    Trained without any, every split sends NaN down its false branch
    (nodes_missing_value_tracks_true all 0), as XGBoost itself does."""
    if kind == "regressor":
        x, y = regression()
        estimator = xgboost.XGBRegressor(random_state=SEED, n_jobs=1, n_estimators=30, **XGB)
    else:
        x, y = classification(2 if kind == "binary" else 3)
        estimator = xgboost.XGBClassifier(random_state=SEED, n_jobs=1, n_estimators=30, **XGB)
    x = with_holes(x) if trained_with_missing else x
    estimator.fit(x, y)
    onx = convert_xgboost(estimator, name="xgboost", initial_types=[(INPUT, MlFloat([None, N_FEATURES]))])
    rows = evaluation_rows(x, missing=True)
    about = f"XGBoost {kind} (onnxmltools defaults) trained {'with' if trained_with_missing else 'without'} NaN"
    return Entry(onx, rows, native_answers(estimator, rows), classes_of(estimator), about, missing=True)


# name -> builder. The test ids are these names.
MODELS = {
    "scaler-logistic-zipmap": lambda: scaler_logistic(zipmap=True),
    "scaler-logistic-no-zipmap": lambda: scaler_logistic(zipmap=False),
    "imputer-gradient-boosting": imputer_gradient_boosting,
    "hist-gradient-boosting-classifier": hist_gradient_boosting_classifier,
    "hist-gradient-boosting-regressor": hist_gradient_boosting_regressor,
    "lightgbm-binary": lambda: lightgbm_model("binary"),
    "lightgbm-multiclass-no-zipmap": lambda: lightgbm_model("multiclass", zipmap=False),
    "lightgbm-regressor": lambda: lightgbm_model("regressor"),
    "lightgbm-categorical": lightgbm_categorical,
    "xgboost-binary": lambda: xgboost_model("binary"),
    "xgboost-multiclass": lambda: xgboost_model("multiclass"),
    "xgboost-regressor": lambda: xgboost_model("regressor"),
    "xgboost-binary-trained-without-nan": lambda: xgboost_model("binary", trained_with_missing=False),
    "column-transformer-forest": column_transformer_forest,
    "column-selection-binarizer": column_selection_binarizer,
    "named-columns-regressor": named_columns_regressor,
    "label-encoded-target": label_encoded_target,
    "scaler-svc": scaler_svc,
    "scaler-svr": scaler_svr,
}


# --- the files ---------------------------------------------------------------------------------


def write(name, entry, out):
    """Writes NAME.onnx and NAME.json; onnxruntime answers from the written file."""
    onnx.checker.check_model(entry.model, full_check=True)
    # skl2onnx lists opset imports in set order, which changes with Python's hash seed.
    opsets = sorted(entry.model.opset_import, key=lambda o: o.domain)
    del entry.model.opset_import[:]
    entry.model.opset_import.extend(opsets)
    path = out / f"{name}.onnx"
    onnx.save(entry.model, str(path))
    sess = session(path)
    inputs = graph_inputs(sess)
    rows = rows_as_json(entry.rows)
    native = {k: as_json(v) for k, v in entry.native.items()}
    record = {
        "file": path.name,
        "about": entry.about,
        "producer": f"{entry.model.producer_name} {entry.model.producer_version}",
        "kind": "regressor" if entry.classes is None else "classifier",
        "classes": entry.classes,
        "inputs": inputs,
        "outputs": [o.name for o in sess.get_outputs()],
        "takes_missing": entry.missing,
        "rows": rows,
        "onnxruntime": run(sess, inputs, rows, entry.classes),
        "native": native,
    }
    (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")


def main(argv):
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} OUT_DIR (under target/: the corpus is generated, never committed)")
    out = Path(argv[1])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    versions = {m.__name__: m.__version__ for m in (np, onnx, onnxruntime, lightgbm, xgboost)}
    for name, build in MODELS.items():
        write(name, build(), out)
        print(f"{name}: written", flush=True)
    (out / "index.json").write_text(json.dumps({"models": list(MODELS), "versions": versions}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv)
