"""func.yaml, the Knative Functions project file: its shape is the one `func` reads (the
fields of knative/func's func_yaml-schema.json that we use, checked offline with our own
subset of that schema), and every value says what knative/base/service.yaml says, so
`func deploy` and `kubectl apply -k knative/` deploy the same function."""

from datetime import datetime

import jsonschema
import pytest
import yaml

from conftest import AUTOSCALING_PREFIX, ROOT, container_env, function_health_paths, knative_services, render

FUNC_YAML = ROOT / "func.yaml"

QUANTITY = {"type": "string", "pattern": r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"}


def closed(properties, required=()):
    """An object with these properties and no others: func rejects unknown fields."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


# The part of func's schema (draft 4) this file uses, field names and types as func
# defines them; a misspelt or misplaced field fails here as it would in `func deploy`.
SCHEMA = closed(
    {
        "specVersion": {"type": "string"},
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "runtime": {"type": "string"},
        "created": {"type": "string"},
        "invoke": {"enum": ["http", "cloudevent"]},
        "image": {"type": "string"},
        "run": closed(
            {"envs": {"type": "array", "items": closed({"name": {"type": "string"}, "value": {"type": "string"}})}}
        ),
        "deploy": closed(
            {
                "healthEndpoints": closed({"liveness": {"type": "string"}, "readiness": {"type": "string"}}),
                "options": closed(
                    {
                        "scale": closed(
                            {
                                "min": {"type": "integer", "minimum": 0},
                                "max": {"type": "integer", "minimum": 0},
                                "metric": {"enum": ["concurrency", "rps"]},
                                "target": {"type": "number", "minimum": 0},
                                "utilization": {"type": "number", "minimum": 1, "maximum": 100},
                            }
                        ),
                        "resources": closed(
                            {
                                "requests": closed({"cpu": QUANTITY, "memory": QUANTITY}),
                                "limits": closed(
                                    {"cpu": QUANTITY, "memory": QUANTITY, "concurrency": {"type": "integer", "minimum": 0}}
                                ),
                            }
                        ),
                    }
                ),
            }
        ),
    },
    required=("specVersion", "created"),
)


@pytest.fixture(scope="module")
def func():
    return yaml.safe_load(FUNC_YAML.read_text())


@pytest.fixture(scope="module")
def base():
    (service,) = knative_services(render("knative/base"))
    return service


def as_json(func):
    """func.yaml as func's JSON schema sees it: YAML loads an unquoted timestamp (func
    writes `created` so) as a datetime, JSON has only its RFC 3339 text."""
    created = func["created"]
    return {**func, "created": created.isoformat() if isinstance(created, datetime) else created}


def test_has_the_shape_func_reads(func):
    jsonschema.Draft4Validator(SCHEMA).validate(as_json(func))
    # The date-time format func's schema gives `created`.
    datetime.fromisoformat(as_json(func)["created"])


def test_the_schema_subset_refuses_what_func_refuses(func):
    misplaced = {**as_json(func), "deploy": {**func["deploy"], "scale": {"min": 0}}}
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(misplaced))
    bad_metric = as_json(yaml.safe_load(FUNC_YAML.read_text()))
    bad_metric["deploy"]["options"]["scale"]["metric"] = "cpu"
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(bad_metric))


def test_is_a_rust_function_named_and_imaged_like_the_knative_service(func, base):
    assert func["runtime"] == "rust"
    assert func["name"] == base["metadata"]["name"]
    container = base["spec"]["template"]["spec"]["containers"][0]
    assert func["image"] == container["image"], "the kustomization's image placeholder"


def test_health_endpoints_are_routes_the_function_serves(func):
    endpoints = func["deploy"]["healthEndpoints"]
    paths = function_health_paths()
    assert endpoints["liveness"] in paths["live"]
    assert endpoints["readiness"] in paths["ready"]


def test_scale_matches_the_knative_service_annotations(func, base):
    annotations = base["spec"]["template"]["metadata"]["annotations"]
    scale = func["deploy"]["options"]["scale"]
    # func's option -> the annotation it writes (knative/func k8s/deployer).
    for option, annotation in {
        "min": "min-scale",
        "max": "max-scale",
        "metric": "metric",
        "target": "target",
        "utilization": "target-utilization-percentage",
    }.items():
        assert str(scale[option]) == annotations[AUTOSCALING_PREFIX + annotation], option


def test_resources_and_concurrency_match_the_knative_service(func, base):
    spec = base["spec"]["template"]["spec"]
    resources = func["deploy"]["options"]["resources"]
    container = spec["containers"][0]["resources"]
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert str(resources[kind][resource]) == str(container[kind][resource]), f"{kind}.{resource}"
    assert resources["limits"]["concurrency"] == spec["containerConcurrency"]


def test_environment_matches_the_knative_service(func, base):
    envs = {e["name"]: e["value"] for e in func["run"]["envs"]}
    assert envs == container_env(base["spec"]["template"]["spec"]["containers"][0])
