"""The product counters: named as Prometheus expects, tied to real activities, harmless outside a worker."""

from __future__ import annotations

import re

from activities.reelmirror import ReelMirrorActivities, activity_method_names
from observability import metrics


def test_names_follow_prometheus_conventions() -> None:
    names = [counter.name for counter in metrics.METRICS]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"reelmirror_[a-z_]+_total", name), name


def test_every_polling_activity_named_exists() -> None:
    assert set(metrics.POLL_KINDS) <= set(activity_method_names(ReelMirrorActivities))


def test_recording_outside_a_workflow_or_activity_does_nothing() -> None:
    metrics.post_generated("image", 25)
    metrics.post_approved("operator")
    metrics.post_rejected("timeout")
    metrics.post_finished("published")
    metrics.parked("balance")
    metrics.vendor_call("GET", "429", "api.reelmirror.test")
    metrics.poll()
    metrics.activity_error("RATE_LIMITED", retryable=True)


def test_a_scrape_is_read_back() -> None:
    from observability.scrape import parse, total

    text = """# HELP reelmirror_vendor_calls_total calls
# TYPE reelmirror_vendor_calls_total counter
reelmirror_vendor_calls_total{activity_type="generate_post",method="POST",status="200"} 2
reelmirror_vendor_calls_total{activity_type="plan_cycle",method="GET",status="429"} 1
temporal_workflow_completed{namespace="default"} 3
"""
    samples = parse(text)
    assert total(samples, "reelmirror_vendor_calls_total") == 3
    assert total(samples, "reelmirror_vendor_calls_total", status="429") == 1
    assert total(samples, "temporal_workflow_completed") == 3
