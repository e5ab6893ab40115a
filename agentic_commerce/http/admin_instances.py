"""The operators' view of every instance: supervision tree and metrics history per
instance, and kills of actors wherever they run.

This instance answers for itself; each other live instance the store's registry
names (`Store.instance_urls`) is asked over its internal port, signed with
`INTERNAL_SECRET` like a forwarded session call (`gateway`). An instance that does
not answer in time shows as unreachable rather than failing the whole view.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import structlog
import trio
from quart import Quart, Response, request

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.admin_audit import audit_detail, audited
from agentic_commerce.http.gateway import SessionGateway, refusal_from, signed_by_peer
from agentic_commerce.http.responses import JSON_TYPE, json_response

log = structlog.get_logger("agentic_commerce.admin")
PEER_PATH = "/internal/operators"
PEER_TIMEOUT_SECONDS = 2.0
FORBIDDEN = {"type": "invalid_request", "code": "forbidden", "message": "Signature required."}


def instance_view(system: ActorSystem) -> dict[str, Any]:
    """What an instance shows of itself: its tree and its metrics history."""
    ownership = system.ownership
    return {
        "instance": ownership.instance_id,
        "url": ownership.url,
        "tree": system.supervision_tree(),
        "history": system.history.json(),
    }


def kill_here(system: ActorSystem, actor_id: str) -> dict[str, Any]:
    """Crash one actor of this instance (chaos testing); its supervisor restarts it."""
    if not system.settings.admin_allow_kill:
        raise RequestRejected("kill_disabled", "Killing actors is disabled.", None, status=403)
    if not system.kill(actor_id):
        raise RequestRejected("not_found", "Actor not found.", None, status=404)
    log.warning("actor_killed_by_operator", actor=actor_id)
    return {"id": actor_id, "instance": system.ownership.instance_id, "killed": True}


class Instances:
    def __init__(self, system: ActorSystem, gateway: SessionGateway) -> None:
        self.system = system
        self.gateway = gateway

    @property
    def me(self) -> str:
        return self.system.ownership.instance_id

    async def ask(self, instance_id: str, url: str, question: dict[str, Any]) -> Any:
        """A peer's answer; its refusals raised again here, silence as a 502."""
        if self.gateway.secret is None:
            raise RequestRejected(
                "peer_unreachable", "INTERNAL_SECRET is not set.", None, status=502
            )
        try:
            with trio.fail_after(PEER_TIMEOUT_SECONDS):
                response = await self.gateway.post_signed(url, PEER_PATH, orjson.dumps(question))
        except (httpx.HTTPError, trio.TooSlowError):
            raise RequestRejected(
                "peer_unreachable", f"Instance {instance_id} did not answer.", None, status=502
            ) from None
        if response.status_code >= 400:
            raise refusal_from(response.status_code, response.content)
        return orjson.loads(response.content)

    async def views(self) -> list[dict[str, Any]]:
        """This instance's view first, then every other live instance's (by id)."""
        peers = {i: u for i, u in (await self.system.store.instance_urls()).items() if i != self.me}
        found: dict[str, dict[str, Any]] = {}

        async def view_of(instance_id: str, url: str) -> None:
            try:
                found[instance_id] = await self.ask(instance_id, url, {"op": "view"})
            except RequestRejected as refused:
                found[instance_id] = {"instance": instance_id, "url": url, "error": refused.message}

        async with trio.open_nursery() as nursery:
            for instance_id, url in peers.items():
                nursery.start_soon(view_of, instance_id, url)
        return [instance_view(self.system), *(found[i] for i in sorted(found))]

    async def kill(self, instance_id: str | None, actor_id: str) -> dict[str, Any]:
        if instance_id is None or instance_id == self.me:
            return kill_here(self.system, actor_id)
        url = (await self.system.store.instance_urls()).get(instance_id)
        if url is None:
            raise RequestRejected("not_found", "Instance not found.", None, status=404)
        answer = await self.ask(instance_id, url, {"op": "kill", "actor": actor_id})
        assert isinstance(answer, dict)
        return answer


def register_instances(app: Quart, system: ActorSystem, gateway: SessionGateway) -> None:
    instances = Instances(system, gateway)

    @app.get("/admin/instances")
    async def list_instances() -> Response:
        return json_response({"instances": await instances.views()})

    @app.post("/admin/actors/<actor_id>/kill")
    @audited("kill_actor")
    async def kill_actor(actor_id: str) -> Response:
        """Chaos testing: crash one actor (of the instance `?instance=`, else this one)."""
        instance_id = request.args.get("instance") or None
        audit_detail(instance=instance_id or instances.me)
        return json_response(await instances.kill(instance_id, actor_id), status=202)

    @app.post(PEER_PATH)
    async def peer_question() -> Response:
        """A peer's console asks this instance (signed): its view, or a kill."""
        payload = await request.get_data(as_text=False)
        assert isinstance(payload, bytes)
        if not signed_by_peer(gateway.secret, payload):
            return Response(orjson.dumps(FORBIDDEN), 403, content_type=JSON_TYPE)
        question = orjson.loads(payload)
        if question.get("op") == "kill":
            return json_response(kill_here(system, str(question.get("actor"))))
        return json_response(instance_view(system))
