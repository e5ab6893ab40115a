"""The store behaviour suite also runs on a real Redis Cluster and Sentinel group
(marked `redis_topology`)."""

from __future__ import annotations

import pytest

from tests.stores import STORE_KINDS, TOPOLOGY_KINDS

TOPOLOGIES = [pytest.param(kind, marks=pytest.mark.redis_topology) for kind in TOPOLOGY_KINDS]


@pytest.fixture(params=[*STORE_KINDS, *TOPOLOGIES])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
