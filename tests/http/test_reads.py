"""GETs of a session whose actor is not live here.

On an instance that shares the store with others (it has an instance URL), a
session another instance runs is read from the store: no actor is activated and
an expiry nobody has committed yet is shown, not written; a session nobody runs
is taken (its lease, in the same round trip) and its actor woken. On a lone
instance, which owns every session, the read wakes the actor. Once woken, the
reads are the actor's snapshot, with no store call.
"""

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
    instance runs it, or it passivated): created, then its actor stopped for good."""
    body = create_body(version, **address_update(version))
    session_id = str((await acp.using(version).create(body)).body["id"])
    system.sessions.stop(session_id)
    await eventually(lambda: system.sessions.lookup(session_id) is None)
    return session_id


async def run_elsewhere(system: ActorSystem, session_id: str) -> None:
    """This instance as one of several (it has an instance URL), and the session's
    actor as running on another one (which holds its lease)."""
    system.ownership.url = "http://127.0.0.1:9"
    assert await system.store.acquire_lease(session_id, "elsewhere", 60) is None


async def expire_in_store(system: ActorSystem, session_id: str) -> None:
    stored = await system.store.load_session(session_id)
    assert stored is not None
    past = replace(stored, expires_at=stored.created_at - timedelta(seconds=1))
    await system.store.commit(Commit(past, stored.version))


def expired(version: str) -> str:
    return "expired" if "expired" in BY_VERSION[version].statuses else "canceled"


@pytest.mark.parametrize("store_kind", ["redis"])  # only Redis is shared
async def test_a_shared_instance_reads_the_store_and_activates_no_actor(
    acp: AcpClient, system: ActorSystem, version: str, store_kind: str
) -> None:
    session_id = await committed_only(acp, system, version)
    await run_elsewhere(system, session_id)
    seen = await acp.using(version).get(session_id)
    assert (seen.status, seen.body["status"]) == (200, "ready_for_payment")
    assert system.sessions.lookup(session_id) is None
    assert (await acp.using(version).get("cs_nobody_made_this")).status == 404


@pytest.mark.parametrize("store_kind", ["redis"])
async def test_a_shared_instance_shows_an_expiry_not_yet_committed(
    acp: AcpClient, system: ActorSystem, version: str, store_kind: str
) -> None:
    session_id = await committed_only(acp, system, version)
    await run_elsewhere(system, session_id)
    await expire_in_store(system, session_id)
    seen = await acp.using(version).get(session_id)
    assert seen.body["status"] == expired(version)
    still = await system.store.load_session(session_id)
    assert still is not None and still.status.value == "ready_for_payment"  # shown, not written


@pytest.mark.parametrize("shared", [False, True])
async def test_a_session_nobody_runs_is_woken_by_a_read_and_then_read_from_its_actor(
    acp: AcpClient, system: ActorSystem, version: str, shared: bool
) -> None:
    session_id = await committed_only(acp, system, version)
    if shared:  # one of several instances, and nobody runs the session: this one takes it
        system.ownership.url = "http://127.0.0.1:9"
    seen = await acp.using(version).get(session_id)
    assert (seen.status, seen.body["status"]) == (200, "ready_for_payment")
    assert system.sessions.lookup(session_id) is not None
    load = system.store.load_session

    async def no_load(sid: str) -> None:
        raise AssertionError(f"{sid} was loaded again")

    system.store.load_session = no_load  # type: ignore[method-assign]
    try:
        again = await acp.using(version).get(session_id)
    finally:
        system.store.load_session = load  # type: ignore[method-assign]
    assert again.body == seen.body
    assert (await acp.using(version).get("cs_nobody_made_this")).status == 404


async def test_a_lone_instance_expires_a_due_session_on_the_read(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    session_id = await committed_only(acp, system, version)
    await expire_in_store(system, session_id)
    seen = await acp.using(version).get(session_id)
    assert seen.body["status"] == expired(version)
    stored = await system.store.load_session(session_id)
    assert stored is not None and stored.status.value == "expired"  # its actor committed it
