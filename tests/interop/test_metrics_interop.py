"""The function's GET /metrics read by the Prometheus project's own Python client parsers,
against the real binary: the Prometheus text format (0.0.4) by default, OpenMetrics when
the Accept header asks for it (as Prometheus does). Counters and histogram counts must move
by exactly the number of requests sent. Run through tests/interop/run.sh.
"""

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from test_onnx_interop import COMMITTED_FOREST, HTTP_TIMEOUT_S, TUTORIAL_ROW, server  # noqa: F401 (fixture)

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PREDICT = {"route": "/predict", "protocol": "predict"}
V2_INFER = {"route": "/v2/models/{name}/infer", "protocol": "open_inference_v2"}


@pytest.fixture(scope="module")
def model_path():
    return COMMITTED_FOREST


@pytest.fixture(scope="module")
def name(server):
    (model,) = requests.get(f"{server}/v1/models", timeout=HTTP_TIMEOUT_S).json()["models"]
    return model


def scrape(server, accept=None):
    headers = {"Accept": accept} if accept else {}
    response = requests.get(f"{server}/metrics", headers=headers, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, response.text
    return response


def families(server):
    """Metric families parsed by prometheus_client's Prometheus text format parser."""
    response = scrape(server)
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {family.name: family for family in parse_text(response.text)}


def value(families, family, sample, **labels):
    """The sample's value, 0 when the series does not exist yet (series start at first use)."""
    if family not in families:
        return 0.0
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def test_the_text_format_parses_with_the_types_prometheus_expects(server):
    requests.post(f"{server}/predict", json={"input": TUTORIAL_ROW}, timeout=HTTP_TIMEOUT_S)
    parsed = families(server)
    expected = {
        "http_requests": "counter",
        "http_request_duration_seconds": "histogram",
        "http_requests_in_flight": "gauge",
        "model_inference_duration_seconds": "histogram",
        "model_predicted_rows": "counter",
        "model_info": "gauge",  # the text format has no info type: a gauge of 1
        "model_trees": "gauge",
        "process_start_time_seconds": "gauge",
        "process_resident_memory_bytes": "gauge",
        "process_open_fds": "gauge",
        "process_cpu_seconds": "counter",
    }
    assert {n: parsed[n].type for n in expected if n in parsed} == expected
    (info,) = parsed["model_info"].samples
    assert info.value == 1 and info.labels["operator"] == "TreeEnsembleClassifier"
    assert value(parsed, "process_resident_memory_bytes", "process_resident_memory_bytes") > 0


def test_counters_move_by_exactly_the_requests_sent(server, name):
    before = families(server)
    ok, bad, batch = 5, 3, [TUTORIAL_ROW] * 4
    for _ in range(ok - 1):
        assert requests.post(f"{server}/predict", json={"input": TUTORIAL_ROW}, timeout=HTTP_TIMEOUT_S).ok
    assert requests.post(f"{server}/predict", json={"input": batch}, timeout=HTTP_TIMEOUT_S).ok
    for _ in range(bad):
        response = requests.post(f"{server}/predict", json={"input": [1.0]}, timeout=HTTP_TIMEOUT_S)
        assert response.status_code == 400
    infer = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": TUTORIAL_ROW}]}
    for _ in range(2):
        assert requests.post(f"{server}/v2/models/{name}/infer", json=infer, timeout=HTTP_TIMEOUT_S).ok
    after = families(server)

    def delta(family, sample, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    assert delta("http_requests", "http_requests_total", **PREDICT, code_class="2xx") == ok
    assert delta("http_requests", "http_requests_total", **PREDICT, code_class="4xx") == bad
    assert delta("http_requests", "http_requests_total", **V2_INFER, code_class="2xx") == 2
    assert delta("http_request_duration_seconds", "http_request_duration_seconds_count", **PREDICT) == ok + bad
    inf_bucket = delta("http_request_duration_seconds", "http_request_duration_seconds_bucket", **PREDICT, le="+Inf")
    assert inf_bucket == ok + bad
    assert delta("model_inference_duration_seconds", "model_inference_duration_seconds_count") == ok + 2
    assert delta("model_predicted_rows", "model_predicted_rows_total") == (ok - 1) + len(batch) + 2
    errors = delta("model_prediction_errors", "model_prediction_errors_total", protocol="predict", kind="invalid_request")
    assert errors == bad
    assert value(after, "http_requests_in_flight", "http_requests_in_flight") == 0


def test_openmetrics_when_asked_parses_strictly(server):
    response = scrape(server, accept="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
    assert response.headers["content-type"] == OPENMETRICS
    # The OpenMetrics parser is strict: it requires `# EOF`, `_total` on counters, and
    # cumulative buckets ending in +Inf.
    parsed = {family.name: family for family in parse_openmetrics(response.text)}
    # OpenMetrics names an info family without its `_info` suffix; the series is model_info.
    assert parsed["model"].type == "info"
    assert [s.name for s in parsed["model"].samples] == ["model_info"]
    assert parsed["http_requests"].type == "counter"
    assert parsed["http_request_duration_seconds"].type == "histogram"


def test_scrapes_do_not_count_themselves(server):
    first = families(server)
    second = families(server)
    scraped = [s for f in second.values() for s in f.samples if s.labels.get("route") == "/metrics"]
    assert not scraped
    assert value(second, "http_requests_in_flight", "http_requests_in_flight") == 0
    assert first.keys() == second.keys()
