"""Sessions whose actors passivate after a very short idle time: each request may
find its actor gone, or going. A closed mailbox ends its actor (it was
passivated); it is never a crash, let alone a crash loop."""

from __future__ import annotations

import pytest

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from tests.http.conftest import VERSIONS, AcpClient, address_update, create_body, with_settings
from tests.waiting import eventually


@pytest.fixture
def settings() -> Settings:
    return with_settings(actor_idle_seconds=0.05)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_passivated_session_wakes_on_its_next_message(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version, **address_update(version)))).body["id"]
    await eventually(lambda: system.sessions.lookup(session_id) is None)
    assert (await client.get(session_id)).status == 200
    changed = await client.update(session_id, address_update(version))
    assert (changed.status, changed.body["status"]) == (200, "ready_for_payment")
    await eventually(lambda: system.sessions.lookup(session_id) is None)
