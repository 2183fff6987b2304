"""The Knative rules (shared/DESIGN.md, knative/serving's validation) checked on what
`kubectl apply -k` sends for the base and every overlay: one port with an allowed name on
the function's default port, autoscaling annotations only on the revision template with
values in range, fast readiness probes on paths the function serves, no field Knative
rejects, a complete restricted security context."""

import re

import pytest

from conftest import (
    AUTOSCALING_PREFIX,
    KNATIVE_API,
    container_env,
    function_default_port,
    function_drain_seconds,
    function_health_paths,
    knative_renders,
    knative_services,
    of_kind,
    render,
)

RESERVED_PORTS = {8012, 8013, 8022, 9090, 9091, 8008}
RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}
RESERVED_MOUNT_PATHS = {"/", "/dev", "/dev/log", "/tmp", "/var", "/var/log"}
# Knative's field masks (pkg/apis/serving/fieldmask.go), without feature flags.
ALLOWED_POD_FIELDS = {
    "containers", "volumes", "serviceAccountName", "imagePullSecrets", "enableServiceLinks",
    "automountServiceAccountToken", "containerConcurrency", "timeoutSeconds",
    "responseStartTimeoutSeconds", "idleTimeoutSeconds",
}
ALLOWED_CONTAINER_FIELDS = {
    "name", "args", "command", "env", "workingDir", "envFrom", "image", "imagePullPolicy",
    "livenessProbe", "readinessProbe", "startupProbe", "ports", "resources",
    "securityContext", "terminationMessagePath", "terminationMessagePolicy", "volumeMounts",
}
ALLOWED_PROBE_FIELDS = {
    "httpGet", "tcpSocket", "exec", "grpc", "initialDelaySeconds", "timeoutSeconds",
    "periodSeconds", "successThreshold", "failureThreshold",
}
ALLOWED_VOLUME_SOURCES = {"secret", "configMap", "projected", "emptyDir"}
QUEUE_PROXY_DRAIN_SECONDS = 30  # queue-proxy's drainSleepDuration before SIGTERM reaches us
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(text):
    match = DURATION.match(text)
    assert match and text, f"{text!r} is not a duration like 30s, 5m or 1h"
    h, m, s = (int(g or 0) for g in match.groups())
    return h * 3600 + m * 60 + s


def number(text):
    assert re.fullmatch(r"-?\d+(\.\d+)?", text), f"{text!r} is not a number"
    return float(text)


def whole(text):
    assert re.fullmatch(r"\d+", text), f"{text!r} is not a whole number"
    return int(text)


# Every annotation Knative's autoscaler reads, with the range it accepts.
ANNOTATION_RULES = {
    "class": lambda v: v in {"kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev"},
    "metric": lambda v: v in {"concurrency", "rps", "cpu", "memory"},
    "target": lambda v: number(v) >= 0.01,
    "target-utilization-percentage": lambda v: 1 <= number(v) <= 100,
    "min-scale": lambda v: whole(v) >= 0,
    "max-scale": lambda v: whole(v) >= 0,
    "initial-scale": lambda v: whole(v) >= 0,
    "activation-scale": lambda v: whole(v) >= 2,
    "scale-down-delay": lambda v: 0 <= seconds(v) <= 3600,
    "window": lambda v: 6 <= seconds(v) <= 3600,
    "scale-to-zero-pod-retention-period": lambda v: seconds(v) >= 0,
    "target-burst-capacity": lambda v: number(v) >= -1,
    "panic-window-percentage": lambda v: 1 <= number(v) <= 100,
    "panic-threshold-percentage": lambda v: 110 <= number(v) <= 1000,
}


@pytest.fixture(params=[str(d) for d in knative_renders()])
def service(request):
    documents = render(request.param)
    services = knative_services(documents)
    assert len(services) == 1, f"{request.param} renders {len(services)} Knative Services"
    return request.param, services[0], documents


def template(svc):
    return svc["spec"]["template"]


def pod(svc):
    return template(svc)["spec"]


def container(svc):
    containers = pod(svc)["containers"]
    assert len(containers) == 1, "one container: the function (queue-proxy is Knative's)"
    return containers[0]


def autoscaling(svc):
    annotations = template(svc).get("metadata", {}).get("annotations", {})
    return {k[len(AUTOSCALING_PREFIX):]: v for k, v in annotations.items() if k.startswith(AUTOSCALING_PREFIX)}


def test_every_kustomization_with_a_knative_service_renders():
    assert {"knative", "knative/base", "knative/overlays/rps"} <= {str(d) for d in knative_renders()}


def test_autoscaling_annotations_only_on_the_revision_template(service):
    name, svc, _ = service
    for where in ("annotations", "labels"):
        misplaced = [k for k in svc["metadata"].get(where, {}) if k.startswith(AUTOSCALING_PREFIX)]
        assert not misplaced, f"{name}: {misplaced} on the Service's own metadata; Knative reads them from spec.template.metadata"


def test_autoscaling_annotations_are_known_strings_in_range(service):
    name, svc, _ = service
    values = autoscaling(svc)
    assert values, f"{name}: no autoscaling annotations"
    for key, value in values.items():
        assert isinstance(value, str), f"{name}: {key}={value!r} must be a string (quote it)"
        assert key in ANNOTATION_RULES, f"{name}: unknown annotation {AUTOSCALING_PREFIX}{key}"
        assert ANNOTATION_RULES[key](value), f"{name}: {key}={value!r} is out of range"


def test_autoscaling_values_are_consistent(service):
    name, svc, _ = service
    values = autoscaling(svc)
    kpa = values.get("class", "kpa.autoscaling.knative.dev") == "kpa.autoscaling.knative.dev"
    metric = values.get("metric", "concurrency" if kpa else "cpu")
    assert metric in ({"concurrency", "rps"} if kpa else {"cpu", "memory"}), f"{name}: metric {metric} with this class"
    low, high = int(values.get("min-scale", "0")), int(values.get("max-scale", "0"))
    assert high == 0 or low <= high, f"{name}: min-scale {low} > max-scale {high}"
    assert high == 0 or int(values.get("initial-scale", "1")) <= high
    concurrency = pod(svc).get("containerConcurrency", 0)
    if metric == "concurrency" and concurrency:
        assert number(values["target"]) <= concurrency, f"{name}: target above the hard limit never triggers"


def test_base_scales_to_zero_on_concurrency_with_every_knob_explicit():
    svc = knative_services(render("knative"))[0]
    values = autoscaling(svc)
    assert values["min-scale"] == "0"
    assert values["metric"] == "concurrency"
    for key in ("target", "target-utilization-percentage", "max-scale", "initial-scale", "window"):
        assert key in values, f"the base states {key} explicitly"
    assert 1 <= pod(svc)["containerConcurrency"] <= 1000


def test_rps_overlay_switches_the_metric_only():
    base = autoscaling(knative_services(render("knative"))[0])
    rps = autoscaling(knative_services(render("knative/overlays/rps"))[0])
    assert rps["metric"] == "rps"
    assert {k: v for k, v in rps.items() if k not in ("metric", "target")} == {
        k: v for k, v in base.items() if k not in ("metric", "target")
    }


def test_warm_overlay_keeps_one_pod():
    assert autoscaling(knative_services(render("knative/overlays/warm"))[0])["min-scale"] == "1"


def test_one_port_with_an_allowed_name_on_the_functions_default_port(service):
    name, svc, _ = service
    ports = container(svc)["ports"]
    assert len(ports) == 1, f"{name}: Knative routes to exactly one port"
    port = ports[0]
    assert port.get("name") in {"h2c", "http1"}, f"{name}: port name must be h2c or http1"
    assert port["containerPort"] == function_default_port()
    assert port["containerPort"] not in RESERVED_PORTS
    assert port.get("protocol", "TCP") == "TCP"
    assert not {"hostPort", "hostIP"} & port.keys()


def test_no_reserved_environment_or_names(service):
    name, svc, _ = service
    c = container(svc)
    assert c.get("name") != "queue-proxy"
    reserved = {e["name"] for e in c.get("env", [])} & RESERVED_ENV
    assert not reserved, f"{name}: Knative sets {reserved} itself"


def test_probes_are_on_the_user_port_and_paths_the_function_serves(service):
    name, svc, _ = service
    c = container(svc)
    port = c["ports"][0]["containerPort"]
    served = function_health_paths()
    for probe_name, kind in (("readinessProbe", "ready"), ("livenessProbe", "live")):
        probe = c.get(probe_name)
        assert probe, f"{name}: no {probe_name}"
        assert set(probe) <= ALLOWED_PROBE_FIELDS
        get = probe["httpGet"]
        assert get["path"] in served[kind], f"{name}: {probe_name} path {get['path']} is not one of {served[kind]}"
        assert get.get("port", port) == port, f"{name}: {probe_name} must use the container port"
        assert get.get("scheme", "HTTP") == "HTTP"


def test_readiness_uses_knatives_fast_probing(service):
    name, svc, _ = service
    probe = container(svc)["readinessProbe"]
    assert not probe.get("periodSeconds"), f"{name}: periodSeconds unset lets queue-proxy probe every 50 ms"
    for forbidden in ("failureThreshold", "timeoutSeconds"):
        assert forbidden not in probe, f"{name}: {forbidden} is rejected when periodSeconds is unset"


def test_no_field_knative_rejects(service):
    name, svc, _ = service
    spec = pod(svc)
    assert set(spec) <= ALLOWED_POD_FIELDS, f"{name}: {set(spec) - ALLOWED_POD_FIELDS}"
    assert spec.get("automountServiceAccountToken", False) is False
    c = container(svc)
    assert set(c) <= ALLOWED_CONTAINER_FIELDS, f"{name}: {set(c) - ALLOWED_CONTAINER_FIELDS}"
    assert not {"lifecycle", "stdin", "stdinOnce", "tty", "volumeDevices"} & c.keys()


def test_volumes_are_allowed_kinds_all_mounted_read_only(service):
    name, svc, _ = service
    volumes = {v["name"]: v for v in pod(svc).get("volumes", [])}
    mounts = container(svc).get("volumeMounts", [])
    assert {m["name"] for m in mounts} == set(volumes), f"{name}: every volume mounted, every mount a volume"
    for volume in volumes.values():
        sources = set(volume) - {"name"}
        assert len(sources) == 1 and sources <= ALLOWED_VOLUME_SOURCES, f"{name}: volume {volume}"
    for mount in mounts:
        path = mount["mountPath"].rstrip("/") or "/"
        assert path.startswith("/"), f"{name}: {path} is not absolute"
        assert path not in RESERVED_MOUNT_PATHS, f"{name}: {path} is reserved by Knative"
        assert mount.get("readOnly") is True or "emptyDir" in volumes[mount["name"]]


def test_security_context_is_complete(service):
    name, svc, _ = service
    sc = container(svc)["securityContext"]
    assert sc.get("runAsNonRoot") is True
    assert sc.get("runAsUser") == 65532
    assert sc.get("readOnlyRootFilesystem") is True
    assert sc.get("allowPrivilegeEscalation") is False
    assert sc.get("privileged", False) is False
    assert sc.get("capabilities", {}).get("drop") == ["ALL"]
    assert not sc.get("capabilities", {}).get("add")
    assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"


def test_resources_have_requests_within_limits(service):
    name, svc, _ = service
    resources = container(svc)["resources"]
    for resource in ("cpu", "memory"):
        request, limit = resources["requests"][resource], resources["limits"][resource]
        assert quantity(request) <= quantity(limit), f"{name}: {resource} request {request} > limit {limit}"


def test_timeouts_leave_room_to_drain(service):
    name, svc, _ = service
    spec = pod(svc)
    # Knative makes timeoutSeconds the pod's termination grace period: it must cover
    # queue-proxy's drain, then the function's shutdown delay (0 unless set: K_SERVICE
    # is set) and its own drain.
    env = container_env(container(svc))
    delay = int(env.get("SHUTDOWN_DELAY_SECONDS", 0))
    drain = int(env.get("DRAIN_TIMEOUT_SECONDS", function_drain_seconds()))
    assert spec["timeoutSeconds"] >= QUEUE_PROXY_DRAIN_SECONDS + delay + drain
    assert spec["timeoutSeconds"] <= 600, "Knative's default max-revision-timeout-seconds"
    assert spec.get("responseStartTimeoutSeconds", 0) <= spec["timeoutSeconds"]


def test_image_is_set_by_kustomize_to_a_pinned_tag(service):
    name, svc, _ = service
    image = container(svc)["image"]
    assert "/" in image and ":" in image.rsplit("/", 1)[-1], f"{name}: {image} is not a registry image with a tag"
    assert not image.endswith(":latest")


def test_model_configmap_overlay_serves_the_mounted_file():
    documents = render("knative/overlays/model-configmap")
    svc = knative_services(documents)[0]
    (config_map,) = of_kind(documents, "ConfigMap")
    env = {e["name"]: e.get("value") for e in container(svc).get("env", [])}
    (volume,) = [v for v in pod(svc)["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"], "the generated (hashed) name reaches the volume"
    (mount,) = [m for m in container(svc)["volumeMounts"] if m["name"] == volume["name"]]
    directory, _, key = env["MODEL_PATH"].rpartition("/")
    assert directory == mount["mountPath"].rstrip("/"), "MODEL_PATH points into the mount"
    assert key in config_map.get("binaryData", {}), "the ONNX file is binary: it belongs in binaryData"
    encoded = sum(len(v) for v in config_map["binaryData"].values())
    assert encoded < 1024 * 1024, "a ConfigMap is capped at 1 MiB in etcd"


def test_payload_log_overlay_binds_the_service_to_a_broker():
    documents = render("knative/overlays/payload-log")
    (svc,) = knative_services(documents)
    (binding,) = of_kind(documents, "SinkBinding")
    assert binding["apiVersion"] == "sources.knative.dev/v1"
    subject = binding["spec"]["subject"]
    assert (subject["apiVersion"], subject["kind"], subject["name"]) == (KNATIVE_API, "Service", svc["metadata"]["name"])
    assert binding["spec"]["sink"]["ref"]["kind"] == "Broker"
    # The function refuses K_CE_OVERRIDES whose names are not CloudEvents attribute names.
    for name in binding["spec"].get("ceOverrides", {}).get("extensions", {}):
        assert re.fullmatch(r"[a-z0-9]{1,20}", name), name
    env = container_env(container(svc))
    assert env["PAYLOAD_LOG"] in {"all", "request", "response"}
    assert "K_SINK" not in env, "the SinkBinding injects K_SINK"


def quantity(text):
    """A Kubernetes quantity ("250m", "1", "64Mi") as a float."""
    units = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text))
    assert match and match.group(2) in units, f"{text!r} is not a quantity"
    return float(match.group(1)) * units[match.group(2)]
