"""Deterministic workflow code: onboarding, the persona loop and one post's pipeline.

Kept empty on purpose: activities and the starter import `workflows.models` and `workflows.policies`
without pulling every workflow definition (and the sandbox rules they need) along with them.
"""
