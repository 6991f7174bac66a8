"""Typed async client of the ReelMirror API (httpx + pydantic), with no Temporal inside.

Import from the module that owns a name, e.g. ``from reelmirror.client import ReelMirrorClient``.
This package file re-exports nothing on purpose: importing ``reelmirror.models`` (as workflow code
does, inside Temporal's sandbox) must not pull in httpx, stripe or PyJWT, and one place per name
keeps go-to-definition honest.

Modules: ``client`` (the endpoints), ``models`` (answers and vocabularies), ``envelopes`` (how
answers are unwrapped and checked against the contract's promises), ``errors`` (the exceptions),
``transport`` (one request under one total deadline), ``ratelimit`` (pacing headers),
``redaction`` (secret scrubbing), ``supabase`` (sessions), ``stripe_setup`` (card confirmation).
See README.md beside this file.
"""
