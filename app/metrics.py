"""Prometheus metrics of one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Latency buckets in seconds (Prometheus's unit), from half a millisecond to past the
# deadlines: the tail matters up to the deadline and past it.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Request counts and latencies per endpoint and per model, fallbacks, rejections, and
    the process's own figures (``process_resident_memory_bytes``, CPU seconds, open file
    descriptors: prometheus_client's process collector, read from /proc on Linux)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)  # the default registry has it; this one must ask
        self.requests = Counter("autocomplete_http_requests", "HTTP requests",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("autocomplete_http_request_seconds",
                                 "Time from request to the end of the response",
                                 ["endpoint"], buckets=BUCKETS, registry=r)
        self.model_requests = Counter("autocomplete_model_answers",
                                      "Answers by endpoint and by the model that gave them",
                                      ["endpoint", "model"], registry=r)
        self.model_latency = Histogram("autocomplete_model_seconds",
                                       "Model time of an answer (queue included)",
                                       ["endpoint", "model"], buckets=BUCKETS, registry=r)
        self.fallbacks = Counter("autocomplete_fallbacks",
                                 "Answers the n-gram gave in the neural model's place",
                                 ["endpoint", "reason"], registry=r)
        self.rejected = Counter("autocomplete_rejected_requests",
                                "Requests refused before any model ran", ["reason"], registry=r)
        self.in_flight = Gauge("autocomplete_model_requests_in_flight",
                               "Model requests being answered now", registry=r)
        self.reloads = Counter("autocomplete_reloads", "Model reloads by result", ["result"],
                               registry=r)

    def watch(self, read: Callable[[], dict[str, Any]]) -> None:
        """Export the loaded models' figures, read at scrape time from ``read()``:
        ``{"models": {family: {"load_seconds", "cache_hits", "cache_misses", and the
        scheduler's "rounds", "batched_states", "dropped_cancelled", "dropped_deadline"}},
        "serving": family, "degraded": bool}``."""
        self.registry.register(_ModelCollector(read))


class _ModelCollector(Collector):
    def __init__(self, read: Callable[[], dict[str, Any]]):
        self.read = read

    def collect(self) -> Iterator[Metric]:
        state = self.read()
        hits = CounterMetricFamily("autocomplete_state_cache_hits",
                                   "Model states found whole in the state cache", labels=["model"])
        misses = CounterMetricFamily("autocomplete_state_cache_misses",
                                     "Model states advanced over new tokens", labels=["model"])
        load = GaugeMetricFamily("autocomplete_model_load_seconds",
                                 "Time to verify and load the model", labels=["model"])
        serving = GaugeMetricFamily("autocomplete_model_serving",
                                    "1 for the model that answers first", labels=["model"])
        rounds = CounterMetricFamily(
            "autocomplete_batch_rounds", "Rounds of the model's scheduler: each one batched "
            "model call a kind for every request waiting", labels=["model"])
        states = CounterMetricFamily("autocomplete_batch_states",
                                     "Model states served in batched calls (over rounds: the "
                                     "mean batch)", labels=["model"])
        dropped = CounterMetricFamily("autocomplete_batch_dropped",
                                      "Requests dropped between rounds, by why (cancelled: "
                                      "answered by the fallback or given up; deadline)",
                                      labels=["model", "reason"])
        for family, m in state["models"].items():
            hits.add_metric([family], m["cache_hits"])
            misses.add_metric([family], m["cache_misses"])
            load.add_metric([family], m["load_seconds"])
            serving.add_metric([family], 1.0 if family == state["serving"] else 0.0)
            if "rounds" in m:
                rounds.add_metric([family], m["rounds"])
                states.add_metric([family], m["batched_states"])
                dropped.add_metric([family, "cancelled"], m["dropped_cancelled"])
                dropped.add_metric([family, "deadline"], m["dropped_deadline"])
        degraded = GaugeMetricFamily("autocomplete_degraded",
                                     "1 while a model the directory lists could not be loaded")
        degraded.add_metric([], 1.0 if state["degraded"] else 0.0)
        yield from (hits, misses, load, serving, degraded, rounds, states, dropped)
