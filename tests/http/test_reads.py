"""A GET where the session's actor is not live here reads the committed state from
the store: it activates no actor, and an expiry nobody has committed yet is shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.store.base import Commit
from tests.http.conftest import VERSIONS, AcpClient, address_update, create_body
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("version", VERSIONS)


async def committed_only(acp: AcpClient, system: ActorSystem, version: str) -> str:
    """A session committed in the store with no actor live here (as when another
    instance runs it): created, then its actor stopped for good."""
    body = create_body(version, **address_update(version))
    session_id = str((await acp.using(version).create(body)).body["id"])
    system.sessions.stop(session_id)
    await eventually(lambda: system.sessions.lookup(session_id) is None)
    return session_id


async def test_a_read_activates_no_actor(acp: AcpClient, system: ActorSystem, version: str) -> None:
    session_id = await committed_only(acp, system, version)
    seen = await acp.using(version).get(session_id)
    assert (seen.status, seen.body["status"]) == (200, "ready_for_payment")
    assert system.sessions.lookup(session_id) is None
    assert (await acp.using(version).get("cs_nobody_made_this")).status == 404


async def test_an_expiry_not_yet_committed_is_shown(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    session_id = await committed_only(acp, system, version)
    stored = await system.store.load_session(session_id)
    assert stored is not None
    past = replace(stored, expires_at=stored.created_at - timedelta(seconds=1))
    await system.store.commit(Commit(past, stored.version))
    seen = await acp.using(version).get(session_id)
    shown = "expired" if "expired" in BY_VERSION[version].statuses else "canceled"
    assert seen.body["status"] == shown
    still = await system.store.load_session(session_id)
    assert still is not None and still.status.value == "ready_for_payment"  # shown, not written
