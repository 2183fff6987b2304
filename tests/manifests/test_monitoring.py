"""knative/monitoring agrees with the function and the Knative Service: the PodMonitor
scrapes the path the function serves on the port Knative gives the user container, in the
pods of the base Service, and the dashboard's label filters are the labels it attaches."""

import json
import re

from conftest import KNATIVE, ROOT, function_route_paths, knative_services, render

MONITORING = "knative/monitoring"
DASHBOARD = KNATIVE / "monitoring" / "grafana-dashboard.json"
# Knative renames the one container port of a revision's user container to this.
KNATIVE_USER_PORT = "user-port"
# Labels every Prometheus Operator target has, besides the relabelled ones.
OPERATOR_LABELS = {"namespace", "pod", "container", "endpoint", "job", "instance"}


def pod_monitor():
    (monitor,) = [d for d in render(MONITORING) if d["kind"] == "PodMonitor"]
    return monitor


def test_selects_the_pods_of_the_base_service_on_knatives_user_port():
    service = knative_services(render("knative"))[0]
    monitor = pod_monitor()
    assert monitor["spec"]["selector"]["matchLabels"] == {"serving.knative.dev/service": service["metadata"]["name"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == KNATIVE_USER_PORT
    assert endpoint["path"] == "/metrics"
    router = (ROOT / "function" / "src" / "http" / "router.rs").read_text()
    assert "Endpoint::Metrics => " in router, "the function no longer routes /metrics"
    assert function_route_paths("Metrics") == {"/metrics"}


def test_dashboard_configmap_holds_the_dashboard_for_grafanas_sidecar():
    (config_map,) = [d for d in render(MONITORING) if d["kind"] == "ConfigMap"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["grafana-dashboard.json"]) == json.loads(DASHBOARD.read_text())


def test_dashboard_filters_on_labels_the_pod_monitor_attaches():
    relabelled = {r["targetLabel"] for r in pod_monitor()["spec"]["podMetricsEndpoints"][0]["relabelings"]}
    text = DASHBOARD.read_text()
    matched = set(re.findall(r'([a-z_]+)\s*(?:=~|!~|!=|=)\s*\\?"', text))
    # Labels the function puts on its own series.
    function_labels = {"route", "protocol", "code_class", "kind", "le"}
    unknown = matched - relabelled - OPERATOR_LABELS - function_labels
    assert not unknown, f"the dashboard filters on labels nobody sets: {unknown}"
    assert {"knative_service", "knative_revision"} <= matched & relabelled
