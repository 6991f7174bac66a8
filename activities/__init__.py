"""Temporal activities: thin adapters from workflows to the ReelMirror client.

Kept import-light on purpose: workflows load `activities.models` inside the workflow sandbox, and
importing this package must not pull in httpx. Import `activities.reelmirror` (the activities) or
`activities.settings` / `activities.secrets` (the worker's wiring) explicitly where needed.
"""
