"""The short form of the soak test: a minute of checkouts by several
agents over three instances on one Redis, with actors, instances, Redis, Stripe
and the webhook receiver failing at random (seeded) moments. See `soak.py`;
`scripts/soak --minutes N` runs the same soak for longer.

`SOAK_SEED` picks another schedule; `SOAK_SERVER_SRC` runs the instances from
another source tree of the server (e.g. an exported commit).
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.soak.soak import SoakConfig, run_soak

pytestmark = [pytest.mark.slow, pytest.mark.soak, pytest.mark.kills_actors]


async def test_soak_short() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    config = SoakConfig.short(
        seed=int(os.environ.get("SOAK_SEED", "15")),
        server_src=os.environ.get("SOAK_SERVER_SRC") or None,
    )
    result = await run_soak(config)
    if result.problems:  # every invariant that failed, with its evidence and the summary
        pytest.fail(result.report(), pytrace=False)
    print(result.report())
