"""Payload logging (--payload-log) against a real receiver: an HTTP server that parses
every event it gets with the CloudEvents SDK's binary-mode parser, as a Knative Broker
or a KServe logger consumer would.

Each prediction, in every protocol the function serves, must produce a request event
and a response event with KServe's types, the request's id, KServe's extensions and
K_CE_OVERRIDES, the bodies as sent for data; a slow sink must not hold predictions
back, and a sink that refuses connections must cost events (counted), never
predictions. Run through tests/interop/run.sh.
"""

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests
import tritonclient.grpc as triton_grpc
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from test_onnx_interop import COMMITTED_FOREST, FUNCTION_BIN, HTTP_TIMEOUT_S, TUTORIAL_ROW, free_port, stop, wait_ready

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
MODEL = "iris"
NAMESPACE = "models"
POD = "iris-00001-deployment-7d9f"
OVERRIDES = {"extensions": {"team": "fraud", "tier": 2}}
# Longest wait for events the function has queued; delivery itself takes milliseconds.
EVENT_TIMEOUT_S = 20.0
# A slow sink's delay per event, as in BENCHMARKS.md's slow-sink row.
SLOW_SINK_S = 0.2


# --- the receiver -------------------------------------------------------------------------


class Sink:
    """An HTTP server on a free port that parses each POST as a binary-mode CloudEvent
    (the SDK refuses anything else) and keeps it with its raw headers and body."""

    def __init__(self, delay_s=0.0):
        self.delay_s = delay_s
        self.events = []  # (CloudEvent, headers with lowercase names, raw body)
        self.errors = []
        self.changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the function's client expects

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    assert "ce-specversion" in headers, f"not binary mode: {headers}"
                    event = ce_http.from_binary(ce_http.HTTPMessage(headers, body), JSONFormat())
                    entry = (event, headers, body)
                except Exception as error:  # noqa: BLE001 (reported by the test)
                    entry = None
                    with sink.changed:
                        sink.errors.append(repr(error))
                time.sleep(sink.delay_s)
                self.send_response(202 if entry else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if entry:
                    with sink.changed:
                        sink.events.append(entry)
                        sink.changed.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count, what="events"):
        """The events once at least `count` have arrived."""
        with self.changed:
            arrived = self.changed.wait_for(lambda: len(self.events) >= count, timeout=EVENT_TIMEOUT_S)
            assert not self.errors, self.errors
            assert arrived, f"{len(self.events)} of {count} {what} arrived within {EVENT_TIMEOUT_S}s"
            return list(self.events)

    def with_id(self, request_id):
        """The events whose id is `request_id`, by type."""
        events = self.wait_for(0)
        return {event.get_type(): (event, headers, body) for event, headers, body in events if event.get_id() == request_id}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    receiver = Sink()
    yield receiver
    receiver.close()


def start_function(request, tmp_path, sink_url, mode="all", extra_env=None):
    """The function binary serving the committed forest as MODEL with payload logging
    `mode` to `sink_url`; its base URL and process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MODEL_PATH", "K_SINK", "K_CE_OVERRIDES")}
    env.update(
        {
            "RUST_LOG": "info",
            "MODEL_NAME": MODEL,
            "PAYLOAD_LOG": mode,
            "K_SINK": sink_url,
            "POD_NAMESPACE": NAMESPACE,
            "HOSTNAME": POD,
            "K_CE_OVERRIDES": json.dumps(OVERRIDES),
        }
    )
    env.update(extra_env or {})
    port = free_port()
    log = tmp_path / f"function-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [FUNCTION_BIN, "--model", COMMITTED_FOREST, "--port", str(port), "--host", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    request.addfinalizer(lambda: stop(process, log))
    base = f"http://127.0.0.1:{port}"
    assert wait_ready(process, base), log.read_text(errors="replace")
    return base, process, log


def sigterm_and_wait(process, log):
    """SIGTERM, then the exit: the function flushes its queue before it exits."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=EVENT_TIMEOUT_S + 10) == 0, log.read_text(errors="replace")


def metric(base, name, **labels):
    """The value of one sample of GET /metrics (0 when the series does not exist yet)."""
    text = requests.get(f"{base}/metrics", timeout=HTTP_TIMEOUT_S).text
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == wanted:
            return float(value)
    return 0.0


# --- one request per protocol ----------------------------------------------------------------

ROWS = [TUTORIAL_ROW, [6.7, 3.0, 5.2, 2.3]]


def binary_event():
    event = CloudEvent(
        attributes={"type": "dev.example.request", "source": "/interop", "datacontenttype": "application/json"},
        data={"input": ROWS},
    )
    return ce_http.to_binary_event(event)


def structured_event():
    event = CloudEvent(attributes={"type": "dev.example.request", "source": "/interop"}, data={"input": ROWS})
    return ce_http.to_structured_event(event)


# protocol -> (path, headers, body bytes, the `endpoint` extension, the `component`)
PROTOCOLS = {
    "predict": ("/predict", {"Content-Type": "application/json"}, json.dumps({"input": ROWS}), "/predict", "predictor"),
    "kserve-v1": (
        f"/v1/models/{MODEL}:predict",
        {"Content-Type": "application/json"},
        json.dumps({"instances": ROWS}),
        "/v1/models/{name}:predict",
        "predictor",
    ),
    "kserve-v1-explain": (
        f"/v1/models/{MODEL}:explain",
        {"Content-Type": "application/json"},
        json.dumps({"instances": ROWS}),
        "/v1/models/{name}:explain",
        "explainer",
    ),
    "open-inference-v2": (
        f"/v2/models/{MODEL}/infer",
        {"Content-Type": "application/json"},
        json.dumps({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": ROWS}]}),
        "/v2/models/{name}/infer",
        "predictor",
    ),
    "cloudevents-binary": ("/", None, None, "/", "predictor"),
    "cloudevents-structured": ("/", None, None, "/", "predictor"),
}


@pytest.fixture(scope="module")
def logged_server(request, tmp_path_factory):
    """One function logging everything to one receiver, for the per-protocol tests."""
    receiver = Sink()
    request.addfinalizer(receiver.close)
    base, _, _ = start_function(request, tmp_path_factory.mktemp("payload"), receiver.url)
    return base, receiver


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_sends_a_request_and_a_response_event_sharing_the_request_id(logged_server, protocol):
    base, receiver = logged_server
    path, headers, body, endpoint, component = PROTOCOLS[protocol]
    if protocol.startswith("cloudevents"):
        message = binary_event() if protocol == "cloudevents-binary" else structured_event()
        headers, body = dict(message.headers), message.body
    request_id = f"interop-{protocol}"
    sent = requests.post(f"{base}{path}", headers={**headers, "X-Request-Id": request_id}, data=body, timeout=HTTP_TIMEOUT_S)
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while len(pair := receiver.with_id(request_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(pair) == {REQUEST_TYPE, RESPONSE_TYPE}, pair
    body_bytes = body.encode() if isinstance(body, str) else bytes(body)
    for kind, data, content_type in [
        (REQUEST_TYPE, body_bytes, headers["Content-Type" if "Content-Type" in headers else "content-type"]),
        (RESPONSE_TYPE, sent.content, sent.headers["content-type"]),
    ]:
        event, raw_headers, raw_body = pair[kind]
        assert raw_body == data, (kind, raw_body[:200], data[:200])
        assert event.get_source() == POD
        assert event.get_specversion() == "1.0"
        assert raw_headers["content-type"] == content_type
        assert event.get_extension("inferenceservicename") == MODEL
        assert event.get_extension("namespace") == NAMESPACE
        assert event.get_extension("component") == component
        assert event.get_extension("endpoint") == endpoint
        assert event.get_extension("team") == "fraud"
        assert event.get_extension("tier") == "2"
        assert event.get_time() is not None and event.get_extension("recordedtime")
    assert pair[REQUEST_TYPE][0].get_time() <= pair[RESPONSE_TYPE][0].get_time()


def test_a_grpc_call_sends_the_events_of_the_same_v2_rest_request(logged_server):
    """tritonclient.grpc's ModelInfer: the pair of events, parsed by the SDK, carries the
    JSON of the V2 REST request for the same rows and, byte for byte, REST's answer."""
    base, receiver = logged_server
    rows = np.array(ROWS, dtype=np.float32)
    tensor = triton_grpc.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    client = triton_grpc.InferenceServerClient(base.removeprefix("http://"))
    answer = client.infer(MODEL, [tensor], request_id="rows", headers={"x-request-id": "interop-grpc"})
    assert answer.as_numpy("label").tolist() == [0, 2]
    rest_body = {"id": "rows", "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [v for row in ROWS for v in row]}]}
    rest = requests.post(
        f"{base}/v2/models/{MODEL}/infer", json=rest_body, headers={"X-Request-Id": "interop-grpc-rest"}, timeout=HTTP_TIMEOUT_S
    )
    assert rest.status_code == 200, rest.text
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline and (
        len(receiver.with_id("interop-grpc")) < 2 or len(receiver.with_id("interop-grpc-rest")) < 2
    ):
        time.sleep(0.02)
    grpc_pair, rest_pair = receiver.with_id("interop-grpc"), receiver.with_id("interop-grpc-rest")
    assert set(grpc_pair) == set(rest_pair) == {REQUEST_TYPE, RESPONSE_TYPE}, (grpc_pair, rest_pair)
    for kind in (REQUEST_TYPE, RESPONSE_TYPE):
        event, headers, _ = grpc_pair[kind]
        assert headers["content-type"] == "application/json"
        assert event.get_extension("endpoint") == "/inference.GRPCInferenceService/ModelInfer"
        assert event.get_extension("component") == "predictor"
        assert event.get_extension("inferenceservicename") == MODEL
        assert event.get_source() == POD
    # The rows as float32 values that print as the JSON numbers REST was sent.
    assert json.loads(grpc_pair[REQUEST_TYPE][2]) == json.loads(rest_pair[REQUEST_TYPE][2]) == rest_body
    assert grpc_pair[RESPONSE_TYPE][2] == rest_pair[RESPONSE_TYPE][2] == rest.content


def test_a_refused_request_sends_its_request_event_only(logged_server):
    base, receiver = logged_server
    sent = requests.post(
        f"{base}/predict", json={"input": [1, 2, 3]}, headers={"X-Request-Id": "interop-refused"}, timeout=HTTP_TIMEOUT_S
    )
    assert sent.status_code == 400
    # Events are sent in queue order: once a later request's pair has arrived, a
    # response event of the refused request would have been sent too.
    ok = requests.post(f"{base}/predict", json={"input": TUTORIAL_ROW}, headers={"X-Request-Id": "interop-after"})
    assert ok.status_code == 200
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline and (
        len(receiver.with_id("interop-after")) < 2 or not receiver.with_id("interop-refused")
    ):
        time.sleep(0.02)
    assert set(receiver.with_id("interop-refused")) == {REQUEST_TYPE}


# --- modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, kinds", [("request", {REQUEST_TYPE}), ("response", {RESPONSE_TYPE})])
def test_request_or_response_mode_sends_only_that_half(request, tmp_path, sink, mode, kinds):
    base, process, log = start_function(request, tmp_path, sink.url, mode=mode)
    for i in range(3):
        answer = requests.post(f"{base}/predict", json={"input": TUTORIAL_ROW}, headers={"X-Request-Id": f"m-{i}"})
        assert answer.status_code == 200
    sigterm_and_wait(process, log)
    events = sink.wait_for(3)
    assert sorted(e.get_id() for e, _, _ in events) == ["m-0", "m-1", "m-2"]
    assert {e.get_type() for e, _, _ in events} == kinds


def test_logging_on_without_a_sink_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "PAYLOAD_LOG_URL")}
    env["PAYLOAD_LOG"] = "all"
    done = subprocess.run(
        [FUNCTION_BIN, "--port", "0", "--host", "127.0.0.1"], env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 64, done
    assert b"K_SINK" in done.stderr, done.stderr


# --- sinks that cannot keep up ---------------------------------------------------------------


def test_a_slow_sink_does_not_hold_predictions_back_and_every_event_is_accounted_for(request, tmp_path):
    slow = Sink(delay_s=SLOW_SINK_S)
    request.addfinalizer(slow.close)
    base, process, log = start_function(request, tmp_path, slow.url)
    predictions = 40
    with requests.Session() as session:
        for i in range(predictions):
            answer = session.post(f"{base}/predict", json={"input": TUTORIAL_ROW}, headers={"X-Request-Id": f"slow-{i}"})
            assert answer.status_code == 200
    # Delivering 80 events takes the sink seconds; the predictions did not wait for it.
    assert len(slow.wait_for(0)) < 2 * predictions
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        sent = metric(base, "payload_events_sent_total")
        dropped = metric(base, "payload_events_dropped_total", reason="queue_full")
        if sent + dropped == 2 * predictions:
            break
        time.sleep(0.1)
    assert sent + dropped == 2 * predictions, (sent, dropped)
    assert len(slow.wait_for(int(sent))) == sent
    sigterm_and_wait(process, log)


def test_a_sink_refusing_connections_costs_events_never_predictions(request, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/"
    base, process, log = start_function(request, tmp_path, closed)
    predictions = 10
    for i in range(predictions):
        answer = requests.post(f"{base}/v2/models/{MODEL}/infer", json={
            "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": TUTORIAL_ROW}]
        })
        assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while metric(base, "payload_events_failed_total") < 2 * predictions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metric(base, "payload_events_failed_total") == 2 * predictions
    assert metric(base, "payload_events_dropped_total", reason="delivery_failed") == 2 * predictions
    assert metric(base, "payload_events_sent_total") == 0
    sigterm_and_wait(process, log)
    # One warning per interval, not one per event.
    assert log.read_text().count("payload event dropped") == 1, log.read_text()
