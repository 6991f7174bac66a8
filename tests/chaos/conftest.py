"""Chaos modules run on the shared stack (tests/conftest.py) with short fault waits, so that retries, not
sleeps, dominate.

Two knobs differ from the integration stack, both for the length of a run and neither for its behaviour:
the simulator's rate-limit window is 5 s instead of 60 s (an injected 429 waits for the window's reset,
like a real one), and a 503 is retried after 0.5 s instead of the guide's 60 s.
"""

from __future__ import annotations

import pytest

from bench.soak import SoakConfig
from devstack.stack import StackConfig


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return SoakConfig().stack_config(tmp_path_factory.mktemp("chaos-stack"))
