from __future__ import annotations

import pytest

from tests.support.cluster import localcluster


@pytest.fixture(scope="session")
def helm() -> str:
    return str(localcluster.build() / "helm")
