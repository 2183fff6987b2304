"""Clients people already have, against the real function binary: tritonclient (Open
Inference Protocol V2), the CloudEvents SDK (binary and structured mode), plain requests
(KServe V1 and /predict), and openapi-spec-validator for GET /openapi.json.

The same rows go through every protocol and must come back with identical labels and
probabilities. Malformed requests must get a 4xx with {"error": "..."}, which the
clients' own error handling reads. Run through tests/interop/run.sh.
"""

import json
import re
import subprocess

import numpy as np
import onnx
import pytest
import requests
import tritonclient.http as triton
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_openapi
from tritonclient.utils import InferenceServerException

from test_onnx_interop import (  # noqa: F401 (fixtures)
    COMMITTED_FOREST,
    HTTP_TIMEOUT_S,
    IRIS_RANGES,
    ROOT,
    TUTORIAL_ROW,
    fresh_models,
    server,
)

RANDOM_ROWS = 64
SEED = 20250105
RESPONSE_TYPE = "dev.tabular-function.prediction.response"
# onnx TensorProto element types -> Open Inference Protocol datatypes.
DATATYPES = {onnx.TensorProto.FLOAT: "FP32", onnx.TensorProto.INT64: "INT64", onnx.TensorProto.STRING: "BYTES"}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["committed-forest", "fresh-logistic"])
def model_path(request):
    if request.param == "committed-forest":
        return COMMITTED_FOREST
    return request.getfixturevalue("fresh_models")["logistic"]


@pytest.fixture(scope="module")
def name(server):
    """The served model's name, as KServe V1 lists it."""
    models = get_json(f"{server}/v1/models")["models"]
    assert len(models) == 1, models
    return models[0]


@pytest.fixture(scope="module")
def rows():
    """The tutorial row and random rows inside the Iris ranges, as float32."""
    rng = np.random.default_rng(SEED)
    low, high = np.array(IRIS_RANGES).T
    random = rng.uniform(low, high, size=(RANDOM_ROWS, len(IRIS_RANGES)))
    return np.concatenate([[TUTORIAL_ROW], random]).astype(np.float32)


@pytest.fixture(scope="module")
def triton_client(server):
    client = triton.InferenceServerClient(url=server.removeprefix("http://"), network_timeout=HTTP_TIMEOUT_S)
    yield client
    client.close()


@pytest.fixture(scope="module")
def reference(server, rows):
    """Labels and float32 probabilities from POST /predict?probabilities=true."""
    answer = post_json(f"{server}/predict?probabilities=true", {"input": as_json(rows)})
    return np.array(answer["prediction"]), np.array(answer["probabilities"], dtype=np.float32)


# --- helpers ----------------------------------------------------------------------------


def as_json(rows):
    """Rows as JSON numbers: the exact decimal of each float32, so every protocol is
    given the same bits."""
    return rows.astype(np.float64).tolist()


def get_json(url):
    response = requests.get(url, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return response.json()


def post_json(url, body):
    response = requests.post(url, json=body, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return response.json()


def assert_error(response, status, fragment):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and fragment in body["error"], body


def assert_same(got, want, what):
    (got_labels, got_probabilities), (want_labels, want_probabilities) = got, want
    np.testing.assert_array_equal(got_labels, want_labels, err_msg=f"labels via {what}")
    if got_probabilities is not None:
        np.testing.assert_array_equal(
            np.asarray(got_probabilities, dtype=np.float32), want_probabilities, err_msg=f"probabilities via {what}"
        )


def onnx_tensors(values):
    """An ONNX graph's inputs or outputs as V2 metadata tensors, -1 for symbolic dims."""
    tensors = []
    for value in values:
        tensor = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        tensors.append({"name": value.name, "datatype": DATATYPES[tensor.elem_type], "shape": shape})
    return tensors


def post_event(server, message):
    response = requests.post(f"{server}/", headers=message.headers, data=message.body, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, (response.status_code, response.text)
    return response, ce_http.from_http(ce_http.HTTPMessage(dict(response.headers), response.content), JSONFormat())


# --- Open Inference Protocol V2 with tritonclient ---------------------------------------


def test_triton_server_and_model_health(triton_client, name):
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready(name)
    assert triton_client.is_model_ready(name, model_version="1")
    assert not triton_client.is_model_ready("no-such-model")
    metadata = triton_client.get_server_metadata()
    assert metadata["name"] == "function" and metadata["version"], metadata


def test_triton_model_metadata_is_the_onnx_signature(triton_client, name, model_path):
    graph = onnx.load(str(model_path)).graph
    for version in ("", "1"):
        metadata = triton_client.get_model_metadata(name, model_version=version)
        assert metadata["name"] == name
        assert metadata["versions"] == ["1"]
        assert metadata["inputs"] == onnx_tensors(graph.input)
        assert metadata["outputs"] == onnx_tensors(graph.output)
    with pytest.raises(InferenceServerException) as unknown:
        triton_client.get_model_metadata(name, model_version="2")
    assert unknown.value.status() == "404" and 'no version "2"' in unknown.value.message()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["FP32", "FP64"])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_triton_infer_matches_predict(triton_client, name, rows, reference, dtype, binary):
    tensor = triton.InferInput("input", list(rows.shape), "FP32" if dtype is np.float32 else "FP64")
    tensor.set_data_from_numpy(rows.astype(dtype), binary_data=binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
    result = triton_client.infer(name, [tensor], outputs=outputs, request_id="triton-1")
    response = result.get_response()
    assert response["id"] == "triton-1" and response["model_name"] == name
    assert_same((result.as_numpy("label"), result.as_numpy("probabilities")), reference, f"tritonclient {dtype}")
    # No outputs named: tritonclient asks for binary outputs; JSON ones are read all the same.
    everything = triton_client.infer(name, [tensor], model_version="1")
    assert_same((everything.as_numpy("label"), everything.as_numpy("probabilities")), reference, "all outputs")


def test_triton_infer_selects_one_output(triton_client, name, rows, reference):
    tensor = triton.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=False)
    result = triton_client.infer(name, [tensor], outputs=[triton.InferRequestedOutput("label", binary_data=False)])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]
    assert result.as_numpy("probabilities") is None
    np.testing.assert_array_equal(result.as_numpy("label"), reference[0])


def test_triton_sees_errors_with_their_status(triton_client, name, rows):
    wrong_width = triton.InferInput("input", [len(rows), 3], "FP32")
    wrong_width.set_data_from_numpy(rows[:, :3], binary_data=False)
    with pytest.raises(InferenceServerException) as bad:
        triton_client.infer(name, [wrong_width])
    assert bad.value.status() == "400" and "does not fit the model's input" in bad.value.message()
    flags = triton.InferInput("input", [1, 4], "BOOL")
    flags.set_data_from_numpy(np.ones((1, 4), dtype=bool), binary_data=False)
    with pytest.raises(InferenceServerException) as boolean:
        triton_client.infer(name, [flags])
    assert boolean.value.status() == "400" and "BOOL" in boolean.value.message()
    ok = triton.InferInput("input", list(rows.shape), "FP32")
    ok.set_data_from_numpy(rows, binary_data=False)
    with pytest.raises(InferenceServerException) as unknown:
        triton_client.infer(name, [ok], outputs=[triton.InferRequestedOutput("scores", binary_data=False)])
    assert unknown.value.status() == "400" and 'unknown output "scores"' in unknown.value.message()
    with pytest.raises(InferenceServerException) as missing:
        triton_client.infer("no-such-model", [ok])
    assert missing.value.status() == "404"


# --- KServe V1 with requests -------------------------------------------------------------


def test_v1_lists_and_predicts(server, name, rows, reference, model_path):
    assert name == model_path.stem, "the default model name is the file's name"
    assert get_json(f"{server}/v1/models/{name}") == {"name": name, "ready": True}
    answer = post_json(f"{server}/v1/models/{name}:predict", {"instances": as_json(rows)})
    assert list(answer) == ["predictions"]
    assert_same((np.array(answer["predictions"]), None), reference, "KServe V1")


def test_v1_errors(server, name):
    url = f"{server}/v1/models/{name}:predict"
    assert_error(requests.post(url, json={"instances": [1, 2, 3, 4]}, timeout=HTTP_TIMEOUT_S), 400, "not a row")
    assert_error(requests.post(url, data="{", headers={"Content-Type": "application/json"}), 400, "not valid JSON")
    assert_error(requests.get(f"{server}/v1/models/nope", timeout=HTTP_TIMEOUT_S), 404, "unknown model")
    wrong_method = requests.get(url, timeout=HTTP_TIMEOUT_S)
    assert_error(wrong_method, 405, "use POST")
    assert wrong_method.headers["allow"] == "POST"


# --- CloudEvents with the SDK -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_cloudevents_reply_in_kind_with_predict_s_answer(server, name, rows, reference, mode):
    event = CloudEvent(
        attributes={"type": "dev.example.prediction.request", "source": "/interop", "datacontenttype": "application/json"},
        data={"input": as_json(rows)},
    )
    to_http = ce_http.to_binary_event if mode == "binary" else ce_http.to_structured_event
    response, reply = post_event(server, to_http(event))
    if mode == "binary":
        assert response.headers["ce-specversion"] == "1.0"
        assert response.headers["content-type"] == "application/json"
    else:
        assert not any(k.lower().startswith("ce-") for k in response.headers)
        assert response.headers["content-type"] == "application/cloudevents+json"
    assert reply.get_type() == RESPONSE_TYPE
    assert reply.get_source() == f"/models/{name}"
    assert reply.get_extension("inresponseto") == event.get_id()
    assert reply.get_id() and reply.get_id() != event.get_id()
    data = reply.get_data()
    assert_same((np.array(data["prediction"]), data["probabilities"]), reference, f"CloudEvents {mode}")


def test_cloudevents_errors(server):
    event = CloudEvent(attributes={"type": "t", "source": "/interop"}, data={"input": [1, 2, 3]})
    binary = ce_http.to_binary_event(event)
    assert_error(requests.post(f"{server}/", headers=binary.headers, data=binary.body), 400, "has 3 features")
    headers = {k: v for k, v in binary.headers.items() if k.lower() != "ce-type"}
    assert_error(requests.post(f"{server}/", headers=headers, data=binary.body), 400, "ce-type")
    structured = json.loads(ce_http.to_structured_event(event).body)
    del structured["source"]
    sent = requests.post(
        f"{server}/", data=json.dumps(structured), headers={"Content-Type": "application/cloudevents+json"}
    )
    assert_error(sent, 400, "source")
    assert_error(requests.post(f"{server}/", json={"input": TUTORIAL_ROW}), 400, "takes a CloudEvent")


# --- OpenAPI --------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_describes_real_answers(server, name, rows):
    spec = get_json(f"{server}/openapi.json")
    validate_openapi(spec)

    def conforms(instance, schema_name):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
        OAS30Validator(schema).validate(instance)

    body = {"input": as_json(rows[:3])}
    conforms(body, "PredictRequest")
    conforms(post_json(f"{server}/predict?probabilities=true", body), "PredictResponse")
    conforms(post_json(f"{server}/v1/models/{name}:predict", {"instances": as_json(rows[:3])}), "V1PredictResponse")
    infer = {"id": "x", "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": as_json(rows[:3])}]}
    conforms(infer, "V2InferRequest")
    conforms(post_json(f"{server}/v2/models/{name}/infer", infer), "V2InferResponse")
    conforms(get_json(f"{server}/v2/models/{name}"), "V2ModelMetadata")
    conforms(get_json(f"{server}/v2"), "V2ServerMetadata")
    event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": body}
    conforms(event, "CloudEventRequest")
    reply = requests.post(f"{server}/", json=event, headers={"Content-Type": "application/cloudevents+json"})
    conforms(reply.json(), "CloudEventReply")
    conforms(requests.get(f"{server}/v1/models/nope").json(), "Error")
    # Every route the function serves is in the document.
    paths = spec["paths"]
    for path, method in [
        ("/predict", "post"),
        ("/", "post"),
        ("/v1/models/{name}:predict", "post"),
        ("/v2/models/{name}/versions/{version}/infer", "post"),
        ("/v2/models/{name}/versions/{version}/ready", "get"),
        ("/openapi.json", "get"),
    ]:
        assert method in paths.get(path, {}), (path, method)


# --- the README's examples ------------------------------------------------------------------


def readme_examples():
    """The curl commands of the README's protocol section, each with the answer the
    README shows for it when that is one JSON document (`...` stands for any value)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Protocols clients already speak", 1)[1].split("\n## ", 1)[0]
    examples = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines = re.sub(r"\\\n\s*", " ", block).splitlines()
        for i, line in enumerate(lines):
            if line.startswith("curl "):
                shown = lines[i + 1] if i + 1 < len(lines) else ""
                examples.append((line, json.loads(shown[2:]) if shown.startswith("# {") else None))
    return examples


def matches(got, shown):
    if shown == "...":
        return True
    if isinstance(shown, dict):
        return isinstance(got, dict) and got.keys() == shown.keys() and all(matches(got[k], shown[k]) for k in shown)
    return got == shown


def test_readme_curl_examples_answer_what_the_readme_shows(server, model_path):
    if model_path != COMMITTED_FOREST:
        pytest.skip("the README's examples use the bundled model")
    examples = readme_examples()
    assert len(examples) >= 8, examples
    for command, shown in examples:
        done = subprocess.run(
            ["bash", "-c", command.replace("localhost:8080", server.removeprefix("http://"))],
            capture_output=True,
            text=True,
            timeout=HTTP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (command, done.stderr)
        if command.startswith("curl -si"):
            head, body = done.stdout.split("\n\n", 1)  # text mode turned \r\n into \n
            assert " 200 " in head.splitlines()[0], (command, done.stdout)
        else:
            body = done.stdout
        answer = json.loads(body)
        assert "error" not in answer, (command, answer)
        if shown is not None:
            assert matches(answer, shown), (command, answer, shown)
