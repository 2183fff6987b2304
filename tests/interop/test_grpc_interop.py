"""The Open Inference Protocol over gRPC, on the function's one HTTP port, against the
clients that speak it: tritonclient.grpc (raw tensors, what it sends and reads by
default), and grpcio with tritonclient's generated messages for typed contents, the
health service and calls tritonclient cannot make (a held-open call, compression).

Every Iris row must come back from gRPC exactly as from V2 REST; every refusal must
carry the gRPC status a client branches on (NOT_FOUND, INVALID_ARGUMENT naming the
tensor, RESOURCE_EXHAUSTED, UNAVAILABLE, UNIMPLEMENTED). Run through
tests/interop/run.sh.
"""

import csv
import os
import signal
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from test_onnx_interop import COMMITTED_FOREST, FUNCTION_BIN, ROOT, free_port, stop, wait_ready

IRIS_CSV = ROOT / "tests" / "data" / "iris.csv"
MODEL = "iris-forest"
# Small limits, so that each RESOURCE_EXHAUSTED is reached with a small request.
MAX_ROWS = 200
MAX_BODY_BYTES = 64 * 1024
TIMEOUT_S = 30.0
INFER = "/inference.GRPCInferenceService/ModelInfer"


def start(tmp_path_factory, request, *flags):
    """The function serving the committed forest with `flags`; its host:port."""
    log = tmp_path_factory.mktemp("grpc") / "function.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MODEL_PATH", "MODEL_NAME", "K_SERVICE")}
    port = free_port()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [FUNCTION_BIN, "--model", COMMITTED_FOREST, "--port", str(port), "--host", "127.0.0.1", *flags],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    request.addfinalizer(lambda: stop(process, log))
    assert wait_ready(process, f"http://127.0.0.1:{port}"), log.read_text(errors="replace")
    return process, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def address(tmp_path_factory, request):
    _, address = start(
        tmp_path_factory,
        request,
        "--max-batch-rows",
        str(MAX_ROWS),
        "--max-body-bytes",
        str(MAX_BODY_BYTES),
        "--max-in-flight",
        "1",
    )
    return address


@pytest.fixture(scope="module")
def client(address):
    client = triton.InferenceServerClient(url=address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def channel(address):
    with grpc.insecure_channel(address) as channel:
        yield channel


@pytest.fixture(scope="module")
def iris():
    with open(IRIS_CSV, newline="") as f:
        return np.array([[float(v) for v in row[:4]] for row in csv.reader(f) if row[0][0].isdigit()], np.float32)


def rest_infer(address, rows):
    body = {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.tolist()}]}
    answer = requests.post(f"http://{address}/v2/models/{MODEL}/infer", json=body, timeout=TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    labels = np.array(outputs["label"]["data"], np.int64)
    probabilities = np.array(outputs["probabilities"]["data"], np.float32).reshape(-1, 3)
    return labels, probabilities


def triton_input(rows, name="input", datatype="FP32"):
    tensor = triton.InferInput(name, list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows)
    return tensor


def status_of(call):
    """The gRPC status code and message `call` is refused with."""
    with pytest.raises((InferenceServerException, grpc.RpcError)) as refused:
        call()
    error = refused.value
    if isinstance(error, grpc.RpcError):
        return error.code(), error.details()
    return error.status(), error.message()


# --- health and metadata ----------------------------------------------------------------


def test_live_ready_and_model_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "1")


def test_health_check_is_serving(channel):
    check = channel.unary_unary("/grpc.health.v1.Health/Check", lambda b: b, lambda b: b)
    # HealthCheckRequest{service: ""} is the empty message; SERVING is status = 1.
    assert check(b"", timeout=TIMEOUT_S) == b"\x08\x01"
    service = b"\x0a\x1einference.GRPCInferenceService"
    assert check(service, timeout=TIMEOUT_S) == b"\x08\x01"
    code, _ = status_of(lambda: check(b"\x0a\x05other", timeout=TIMEOUT_S))
    assert code == grpc.StatusCode.NOT_FOUND


def test_metadata_equals_rest(client, address):
    server = client.get_server_metadata()
    rest_server = requests.get(f"http://{address}/v2", timeout=TIMEOUT_S).json()
    assert (server.name, server.version, list(server.extensions)) == (
        rest_server["name"],
        rest_server["version"],
        rest_server["extensions"],
    )
    model = client.get_model_metadata(MODEL, "1")
    rest = requests.get(f"http://{address}/v2/models/{MODEL}", timeout=TIMEOUT_S).json()
    assert (model.name, list(model.versions), model.platform) == (rest["name"], rest["versions"], rest["platform"])
    for grpc_tensors, rest_tensors in ((model.inputs, rest["inputs"]), (model.outputs, rest["outputs"])):
        described = [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in grpc_tensors]
        assert described == rest_tensors


# --- inference --------------------------------------------------------------------------


def test_every_iris_row_equals_rest_with_raw_tensors(client, address, iris):
    rest_labels, rest_probabilities = rest_infer(address, iris)
    for i, row in enumerate(iris):
        result = client.infer(MODEL, [triton_input(row[None, :])])
        assert result.as_numpy("label").tolist() == [rest_labels[i]], f"row {i}"
        np.testing.assert_array_equal(result.as_numpy("probabilities"), rest_probabilities[i : i + 1], f"row {i}")
    whole = client.infer(MODEL, [triton_input(iris)])
    np.testing.assert_array_equal(whole.as_numpy("label"), rest_labels)
    np.testing.assert_array_equal(whole.as_numpy("probabilities"), rest_probabilities)


def test_other_numeric_datatypes_give_the_same_answer(client, address, iris):
    rest_labels, _ = rest_infer(address, iris)
    as_double = client.infer(MODEL, [triton_input(iris.astype(np.float64), datatype="FP64")])
    np.testing.assert_array_equal(as_double.as_numpy("label"), rest_labels)


def typed_request(rows, **extra):
    tensor = service_pb2.ModelInferRequest().InferInputTensor(name="input", datatype="FP32", shape=list(rows.shape))
    tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    return service_pb2.ModelInferRequest(model_name=MODEL, inputs=[tensor], **extra)


def test_typed_contents_in_typed_contents_out(channel, address, iris):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    answer = stub.ModelInfer(typed_request(iris, id="typed-1"), timeout=TIMEOUT_S)
    rest_labels, rest_probabilities = rest_infer(address, iris)
    assert answer.id == "typed-1" and answer.model_name == MODEL and answer.model_version == "1"
    assert len(answer.raw_output_contents) == 0
    outputs = {o.name: o for o in answer.outputs}
    assert list(outputs["label"].shape) == [len(iris)]
    assert list(outputs["label"].contents.int64_contents) == rest_labels.tolist()
    assert list(outputs["probabilities"].shape) == [len(iris), 3]
    probabilities = np.array(outputs["probabilities"].contents.fp32_contents, np.float32).reshape(-1, 3)
    np.testing.assert_array_equal(probabilities, rest_probabilities)


def test_outputs_are_selected_and_the_id_echoed(client, iris):
    wanted = [triton.InferRequestedOutput("probabilities")]
    result = client.infer(MODEL, [triton_input(iris[:2])], outputs=wanted, request_id="abc-1")
    response = result.get_response()
    assert response.id == "abc-1"
    assert [o.name for o in response.outputs] == ["probabilities"]
    assert result.as_numpy("probabilities").shape == (2, 3)


# --- refusals ---------------------------------------------------------------------------


def test_unknown_model_or_version_is_not_found(client, iris):
    code, message = status_of(lambda: client.infer("other", [triton_input(iris[:1])]))
    assert code == "StatusCode.NOT_FOUND" and 'serves "iris-forest"' in message
    code, message = status_of(lambda: client.infer(MODEL, [triton_input(iris[:1])], model_version="2"))
    assert code == "StatusCode.NOT_FOUND" and 'has version "1"' in message
    code, _ = status_of(lambda: client.get_model_metadata("other"))
    assert code == "StatusCode.NOT_FOUND"


def test_a_bad_tensor_is_invalid_argument_naming_it(client, channel, iris):
    code, message = status_of(lambda: client.infer(MODEL, [triton_input(iris[:1, :3])]))
    assert code == "StatusCode.INVALID_ARGUMENT"
    assert 'input "input"' in message and "[1, 3]" in message, message
    code, message = status_of(lambda: client.infer(MODEL, [triton_input(iris[:1], name="x")]))
    assert code == "StatusCode.INVALID_ARGUMENT" and 'unknown input "x"' in message
    infinite = np.array([[np.inf, 1, 1, 1]], np.float32)
    code, message = status_of(lambda: client.infer(MODEL, [triton_input(infinite)]))
    assert code == "StatusCode.INVALID_ARGUMENT" and "infinite" in message, message
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    wrong_field = typed_request(iris[:1])
    wrong_field.inputs[0].datatype = "FP64"
    code, message = status_of(lambda: stub.ModelInfer(wrong_field, timeout=TIMEOUT_S))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "fp64_contents, but fp32_contents is set" in message, message
    garbage = channel.unary_unary(INFER, lambda b: b, lambda b: b)
    code, message = status_of(lambda: garbage(b"\xff\xff\xff", timeout=TIMEOUT_S))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not a ModelInferRequest" in message


def test_over_the_limits_is_resource_exhausted(client, iris):
    too_many = np.repeat(iris[:1], MAX_ROWS + 1, axis=0)
    code, message = status_of(lambda: client.infer(MODEL, [triton_input(too_many)]))
    assert code == "StatusCode.RESOURCE_EXHAUSTED" and f"limit of {MAX_ROWS}" in message
    too_big = np.repeat(iris[:1], MAX_BODY_BYTES // 16 + 1, axis=0)
    code, message = status_of(lambda: client.infer(MODEL, [triton_input(too_big)]))
    assert code == "StatusCode.RESOURCE_EXHAUSTED" and f"limit of {MAX_BODY_BYTES} bytes" in message


def test_unknown_methods_and_compression_are_unimplemented(channel, iris):
    stream = channel.unary_unary("/inference.GRPCInferenceService/ModelStreamInfer", lambda b: b, lambda b: b)
    code, message = status_of(lambda: stream(b"", timeout=TIMEOUT_S))
    assert code == grpc.StatusCode.UNIMPLEMENTED and "unknown method" in message
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = typed_request(iris)
    code, message = status_of(lambda: stub.ModelInfer(request, timeout=TIMEOUT_S, compression=grpc.Compression.Gzip))
    assert code == grpc.StatusCode.UNIMPLEMENTED and "compressed" in message


def test_calls_are_counted_under_protocol_grpc(client, address, iris):
    client.infer(MODEL, [triton_input(iris[:1])])
    with pytest.raises(InferenceServerException):
        client.infer(MODEL, [triton_input(iris[:1, :3])])
    text = requests.get(f"http://{address}/metrics", timeout=TIMEOUT_S).text
    ok = 'http_requests_total{route="/inference.GRPCInferenceService/ModelInfer",protocol="grpc",code_class="2xx"}'
    refused = 'model_prediction_errors_total{protocol="grpc",kind="invalid_request"}'
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}
    assert values.get(ok, 0) >= 1 and values.get(refused, 0) >= 1, text


def held_call(channel, request):
    """A ModelInfer call whose message is sent only once the returned event is set:
    it holds its in-flight slot until then."""
    release = threading.Event()

    def messages():
        release.wait(TIMEOUT_S)
        yield request.SerializeToString()

    call = channel.stream_unary(INFER, lambda b: b, service_pb2.ModelInferResponse.FromString)
    return call.future(messages(), timeout=TIMEOUT_S), release


def test_busy_is_unavailable_and_the_held_call_still_answers(client, channel, iris):
    held, release = held_call(channel, typed_request(iris[:1], id="held"))
    try:
        deadline = time.monotonic() + 5
        code = None
        while code != "StatusCode.UNAVAILABLE" and time.monotonic() < deadline:
            try:
                client.infer(MODEL, [triton_input(iris[:1])])
            except InferenceServerException as refused:
                code, message = refused.status(), refused.message()
        assert code == "StatusCode.UNAVAILABLE", "the held call never took the only slot"
        assert "busy with 1 request" in message
        # Metadata and health are never refused for the limit.
        assert client.is_server_ready()
    finally:
        release.set()
    assert held.result().id == "held"


def test_a_drain_finishes_the_call_in_flight_and_readiness_goes(tmp_path_factory, request, iris):
    process, address = start(tmp_path_factory, request, "--shutdown-delay", "2")
    with grpc.insecure_channel(address) as channel:
        held, release = held_call(channel, typed_request(iris[:1], id="in-flight"))
        client = triton.InferenceServerClient(url=address)
        assert client.is_server_ready()
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while client.is_server_ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not client.is_server_ready()
        assert not client.is_model_ready(MODEL)
        check = channel.unary_unary("/grpc.health.v1.Health/Check", lambda b: b, lambda b: b)
        assert check(b"", timeout=TIMEOUT_S) == b"\x08\x02", "NOT_SERVING while draining"
        # Past the shutdown delay: the listener is closed and the drain has begun.
        time.sleep(2.5)
        release.set()
        assert held.result().id == "in-flight"
        client.close()
    assert process.wait(timeout=TIMEOUT_S) == 0
