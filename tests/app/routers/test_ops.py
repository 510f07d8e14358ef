"""Operations: /health, /ready, /model, /metrics, /noop, the demo page and the OpenAPI page."""

from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families


def samples(client) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_names_the_model(client):
    r = client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["model"] == "ngram" and body["reason"] is None
    assert body["models"] == ["ngram"] and body["loading"] is None and body["version"]


def test_model_is_the_manifest_without_hashes_or_paths(client, model_dir):
    r = client.get("/model")
    assert r.status_code == 200
    body = r.json()
    assert body["serving"] == "ngram"
    manifest = body["manifest"]
    assert "files" not in manifest
    assert manifest["models"]["ngram"]["config"]["order"] == 4
    assert manifest["models"]["ngram"]["bytes"] > 0
    assert manifest["corpus"]["sha256"] and manifest["corpus"]["name"] == "sample_corpus.txt"
    text = json.dumps(body, ensure_ascii=False)
    assert str(model_dir) not in text and "/" + "work" not in text and '"path"' not in text


def test_metrics_count_requests_per_endpoint_and_model(client):
    for text in ("나는 밥을 머", "this movie is "):
        assert client.post("/complete", json={"text": text}).status_code == 200
    assert client.post("/complete", json={"text": "나는 밥을 머"}).status_code == 200
    assert client.post("/probability", json={"text": "오늘 너무 힘들어"}).status_code == 200
    assert client.post("/complete", json={"text": "x", "k": 99}).status_code == 422
    m = samples(client)
    http = "autocomplete_http_requests_total"
    assert m[(http, (("endpoint", "/complete"), ("method", "POST"), ("status", "200")))] == 3
    assert m[(http, (("endpoint", "/complete"), ("method", "POST"), ("status", "422")))] == 1
    assert m[("autocomplete_model_answers_total",
              (("endpoint", "/complete"), ("model", "ngram")))] == 3
    assert m[("autocomplete_model_seconds_count",
              (("endpoint", "/probability"), ("model", "ngram")))] == 1
    assert m[("autocomplete_http_request_seconds_count", (("endpoint", "/complete"),))] == 4
    assert m[("autocomplete_state_cache_hits_total", (("model", "ngram"),))] >= 1
    assert m[("autocomplete_model_load_seconds", (("model", "ngram"),))] > 0
    assert m[("autocomplete_model_serving", (("model", "ngram"),))] == 1
    assert m[("autocomplete_degraded", ())] == 0


def test_unknown_paths_share_one_metrics_label(client):
    for i in range(3):
        assert client.get(f"/no/such/page/{i}").status_code == 404
    m = samples(client)
    assert m[("autocomplete_http_requests_total",
              (("endpoint", "other"), ("method", "GET"), ("status", "404")))] == 3


def test_noop(client):
    r = client.get("/noop")
    assert r.status_code == 200 and r.json() == {"ok": True}


def test_demo_page_and_its_script(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'src="([^"]+)"', r.text)
    assert scripts and all(s.startswith("/static/") for s in scripts)  # nothing from a CDN
    for src in scripts:
        js = client.get(src)
        assert js.status_code == 200 and "compositionupdate" in js.text


def test_openapi_has_korean_and_english_examples_and_says_natural_log(client):
    spec = client.get("/openapi.json").json()
    text = json.dumps(spec, ensure_ascii=False)
    assert "영화 너무 재미" in text and "this movie is rea" in text
    prob = spec["paths"]["/probability"]["post"]
    assert "natural log" in prob["description"] or "natural log" in prob["summary"]
    assert {"/complete", "/probability", "/health", "/ready", "/model", "/metrics",
            "/noop"} <= set(spec["paths"])
    assert "/admin/reload" not in spec["paths"]  # no admin token: no admin endpoint


def test_metrics_export_the_process_resident_memory(client):
    """prometheus_client's process collector is on the app's own registry (the default
    registry has it; a registry of one's own must ask for it)."""
    text = client.get("/metrics").text
    rss = [line for line in text.splitlines() if line.startswith("process_resident_memory_bytes")]
    assert len(rss) == 1 and float(rss[0].split()[1]) > 10 * 2**20
    assert "process_cpu_seconds_total" in text and "process_open_fds" in text
