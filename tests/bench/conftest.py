"""The bench's programs (wrk, nginx, oauth2-proxy): installed when missing and we are root
(bench/tools.py), else these tests skip."""

from __future__ import annotations

import pytest

from bench import tools


@pytest.fixture(autouse=True, scope="session")
def bench_programs() -> None:
    try:
        tools.wrk(), tools.nginx(), tools.oauth2_proxy()
    except (RuntimeError, OSError) as e:  # not root, no apt-get, no go
        pytest.skip(f"the bench's programs are missing: {e}")
