"""Metrics, HTTP spans, health endpoints and the telemetry settings of the worker.

A bottom layer on purpose: activities and workflows import `observability.metrics` and
`observability.http` without pulling in workflows, the control layer or anything that does I/O at import.
"""
