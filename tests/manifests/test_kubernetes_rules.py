"""The plain-Kubernetes path (knative/kubernetes): the tutorial's shape (3 replicas, a
LoadBalancer 80 -> 8080, an autoscaling/v2 HPA at 50% CPU for 3..10), selectors and
labels that actually select the pods, and the same probes, port, image and security
context as the Knative Service."""

import pytest

from conftest import (
    container_env,
    function_default_port,
    function_drain_seconds,
    function_shutdown_delay_seconds,
    knative_services,
    of_kind,
    render,
)


@pytest.fixture(scope="module")
def plain():
    return render("knative/kubernetes")


@pytest.fixture(scope="module")
def deployment(plain):
    (found,) = of_kind(plain, "Deployment")
    return found


@pytest.fixture(scope="module")
def knative_container():
    return knative_services(render("knative"))[0]["spec"]["template"]["spec"]["containers"][0]


def pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"]


def only_container(deployment):
    (found,) = deployment["spec"]["template"]["spec"]["containers"]
    return found


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_renders_the_tutorials_objects(plain):
    kinds = sorted(d["kind"] for d in plain)
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "Service"]
    assert {d["metadata"]["name"] for d in plain} == {"iris"}


def test_deployment_runs_three_replicas(deployment):
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["spec"]["replicas"] == 3


def test_deployment_selector_matches_its_pods(deployment):
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels(deployment))


def test_load_balancer_maps_80_to_the_container_port(plain, deployment):
    (service,) = of_kind(plain, "Service")
    assert service["spec"]["type"] == "LoadBalancer"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    (container_port,) = only_container(deployment)["ports"]
    assert port["targetPort"] in (container_port["containerPort"], container_port.get("name"))
    assert container_port["containerPort"] == function_default_port() == 8080
    assert selects(service["spec"]["selector"], pod_labels(deployment))


def test_hpa_scales_the_deployment_on_cpu(plain, deployment):
    (hpa,) = of_kind(plain, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", deployment["metadata"]["name"])
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
    # Utilization is relative to the request: without one the HPA cannot compute it.
    assert only_container(deployment)["resources"]["requests"]["cpu"]


def test_network_policy_selects_the_pods_and_admits_the_port(plain, deployment):
    (policy,) = of_kind(plain, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels(deployment))
    admitted = {p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])}
    assert function_default_port() in admitted
    assert policy["spec"].get("egress") == [] and "Egress" in policy["spec"]["policyTypes"]


def test_same_probes_as_the_knative_service(deployment, knative_container):
    container = only_container(deployment)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == knative_container[probe]["httpGet"], probe
    assert container["livenessProbe"] == knative_container["livenessProbe"]


def test_same_port_image_and_security_context_as_the_knative_service(deployment, knative_container):
    container = only_container(deployment)
    assert container["ports"][0]["containerPort"] == knative_container["ports"][0]["containerPort"]
    assert container["image"] == knative_container["image"]
    knative_sc = knative_container["securityContext"]
    assert {k: v for k, v in container["securityContext"].items() if k != "privileged"} == knative_sc
    assert container["securityContext"].get("privileged", False) is False


def test_pod_security_context_is_restricted(deployment):
    spec = deployment["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec.get("automountServiceAccountToken") is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")


def test_grace_period_outlasts_the_shutdown_delay_and_the_functions_drain(deployment):
    spec = deployment["spec"]["template"]["spec"]
    grace = spec.get("terminationGracePeriodSeconds", 30)
    container = only_container(deployment)
    env = container_env(container)
    # K_SERVICE is unset here, so the function waits its own delay after SIGTERM with
    # /readyz at 503; a preStop sleep as well would only add to it unannounced.
    assert "K_SERVICE" not in env
    assert "preStop" not in container.get("lifecycle", {})
    delay = int(env.get("SHUTDOWN_DELAY_SECONDS", function_shutdown_delay_seconds()))
    drain = int(env.get("DRAIN_TIMEOUT_SECONDS", function_drain_seconds()))
    # Endpoints take seconds to update after SIGTERM: without a delay the pod would
    # refuse the requests still routed to it.
    assert delay > 0
    assert grace > delay + drain
