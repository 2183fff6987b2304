"""onnxruntime as the corpus's reference: the feed for a corpus file's JSON rows
(positional lists, or records by column name; `null` for a missing value) and its answers
as JSON. corpus.py writes these answers next to each file; test_models_users_bring.py
runs them again to check they are reproducible.
"""

import numpy as np
import onnxruntime as ort


def session(path):
    """onnxruntime on one thread, errors only in its log."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# onnxruntime's input types -> numpy dtypes and the corpus's names for them.
INPUT_TYPES = {
    "tensor(float)": ("float", np.float32),
    "tensor(int64)": ("int64", np.int64),
    "tensor(string)": ("string", object),
}


def graph_inputs(sess):
    return [{"name": i.name, "type": INPUT_TYPES[i.type][0], "shape": i.shape} for i in sess.get_inputs()]


def feeds(inputs, rows):
    """onnxruntime's feed for the corpus's JSON rows (positional, or records by column)."""
    if isinstance(rows[0], dict):
        return {
            i["name"]: np.array([r[i["name"]] for r in rows], dtype=dtype_of(i)).reshape(len(rows), 1)
            for i in inputs
        }
    (only,) = inputs
    return {only["name"]: np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)}


def dtype_of(graph_input):
    return {name: dtype for name, dtype in INPUT_TYPES.values()}[graph_input["type"]]


def run(sess, inputs, rows, classes):
    """onnxruntime's answers as JSON: labels and probabilities (a ZipMap's maps read in
    class order) for a classifier, scores for a regressor."""
    outputs = sess.run(None, feeds(inputs, rows))
    if classes is None:
        return {"scores": as_json(np.asarray(outputs[0]).reshape(len(rows), -1).squeeze(1))}
    labels, probabilities = outputs[0], outputs[1]
    if isinstance(probabilities, list):
        assert all(list(m) == classes for m in probabilities), (list(probabilities[0]), classes)
        probabilities = np.array([[m[c] for c in classes] for m in probabilities])
    return {"labels": as_json(labels), "probabilities": as_json(probabilities)}


def as_json(values):
    """Numbers as JSON (NaN as null), numpy scalars as Python ones."""
    values = np.asarray(values)
    if values.dtype == object:
        return [str(v) for v in values.tolist()]
    if values.dtype.kind == "f":
        values = values.astype(np.float64)
        return np.where(np.isnan(values), None, values).tolist()
    return values.tolist()


def rows_as_json(rows):
    """Positional rows as lists (the exact decimal of each float32), records as objects."""
    if isinstance(rows, dict):
        columns = {c: as_json(v) for c, v in rows.items()}
        return [{c: columns[c][i] for c in columns} for i in range(len(next(iter(columns.values()))))]
    return as_json(rows)
