"""Process entry: the actor supervision tree and the HTTP server in one trio run.

The server stops on SIGINT/SIGTERM: `/ready` turns unavailable, hypercorn stops
accepting and finishes open requests (within `SHUTDOWN_TIMEOUT_SECONDS`), then
the actors stop. Correctness never depends on this path (a killed process runs
none of it); it only makes deploys smooth. The root supervisor giving up is the
only fault that ends the process with a non-zero status.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import warnings
from functools import partial

import orjson
import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from agentic_commerce.actors.ownership import JoinRefused
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config import tracing as tracing_setup
from agentic_commerce.config.logging import configure_logging
from agentic_commerce.config.settings import Settings, SettingsError
from agentic_commerce.domain.catalog import Catalog, CatalogError
from agentic_commerce.http.app import create_app, with_mcp
from agentic_commerce.store.base import Store
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.store.redis import RedisStore, Topology
from agentic_commerce.workers import run_workers

log = structlog.get_logger("agentic_commerce")


def load_catalog(settings: Settings) -> Catalog:
    """The catalog file, with the promotions of `PROMOTIONS_FILE` when one is set."""
    catalog = Catalog.from_document(orjson.loads(settings.catalog_file.read_bytes()))
    if settings.promotions_file is None:
        return catalog
    document = orjson.loads(settings.promotions_file.read_bytes())
    if not isinstance(document, dict):
        raise CatalogError('a promotions file holds {"promotions": [...]}')
    return catalog.with_promotions(document.get("promotions"))


def build_store(settings: Settings) -> Store:
    """Redis when `REDIS_URL` or sentinels are set (durable, shared by instances: one
    node, a Sentinel group's master or a Redis Cluster), else memory."""
    if settings.uses_redis:
        topology = Topology(
            settings.redis_mode, settings.redis_sentinels, settings.redis_sentinel_master
        )
        store: Store = RedisStore(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            pool_size=settings.redis_pool_size,
            topology=topology,
            wait_replicas=settings.redis_wait_replicas,
        )
    else:
        store = MemoryStore()
    log.info("store_selected", store=type(store).__name__, durable=store.durable)
    return store


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"{settings.host}:{settings.port}"]
    if settings.internal_port:  # forwarded calls from other instances
        config.bind.append(f"{settings.host}:{settings.internal_port}")
    config.workers = settings.workers  # > 1: SO_REUSEPORT, so the workers share the port
    warnings.filterwarnings("ignore", "The config `workers` has no affect", Warning)
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = settings.shutdown_timeout_seconds
    config.keep_alive_timeout = settings.keep_alive_seconds  # idle, and slow request heads
    return config


GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Move start-up objects out of the collector's sight and collect less often:
    full collections of a growing heap otherwise stall every request (measured:
    pauses of hundreds of milliseconds under create load)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _stop_on_signal(stop: trio.Event, system: ActorSystem) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("shutdown_requested", signal=signal.Signals(signum).name)
            system.draining = True
            stop.set()
            return


async def run_server(settings: Settings) -> None:
    catalog = load_catalog(settings)
    store = build_store(settings)
    system = ActorSystem(settings, store, catalog)
    app = create_app(system)
    if settings.demo_api_key:
        log.warning("demo_api_key", detail="API_KEYS unset: the demo key is accepted")
    stop = trio.Event()
    await system.ownership.join()  # refuses (JoinRefused) to share the store wrongly
    async with trio.open_nursery() as actors:
        actors.start_soon(system.run)
        await system.sessions.wait_ready()
        async with trio.open_nursery() as http:
            http.start_soon(_stop_on_signal, stop, system)
            config = hypercorn_config(settings)
            served = with_mcp(app)  # the quart-trio app, and `/mcp` beside it
            await http.start(partial(serve, served, config, shutdown_trigger=stop.wait))
            log.info(
                "server_started",
                host=settings.host,
                port=settings.port,
                store=type(store).__name__,
            )
            tune_gc()
        # Serving stopped: new connections refused, in-flight requests answered
        # (bounded by SHUTDOWN_TIMEOUT_SECONDS); every answered change is committed.
        actors.cancel_scope.cancel()
    await app.extensions["acs_gateway"].close()
    await system.rate_limits.settle()  # the last requests count for the other instances
    await system.ownership.leave()
    await system.close()
    await store.close()
    log.info("server_stopped")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agentic-commerce-server",
        description="The merchant side of the Agentic Commerce Protocol (settings: environment).",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes on one port (needs Redis)"
    )
    parser.add_argument(
        "--internal-port-base",
        type=int,
        default=9100,
        help="worker i takes forwarded calls on this port + i (loopback)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        if settings.production and (problems := settings.production_problems()):
            raise SettingsError("APP_ENV=production refuses to start: " + "; ".join(problems))
        if args.workers > 1:
            if not settings.uses_redis:
                raise SettingsError("--workers above 1 needs Redis (workers share it)")
            return run_workers(args.workers, args.internal_port_base)
        provider = tracing_setup.start()  # off unless OTEL_* ask
        configure_logging(settings.log_level, settings.log_format, traced=provider is not None)
        if settings.uses_redis and not settings.instance_url:
            log.info(
                "lone_instance",
                detail="REDIS_URL without INSTANCE_URL: this instance uses the store alone",
            )
        try:
            trio.run(run_server, settings)
        finally:
            tracing_setup.stop(provider)  # the spans still buffered go out
    except (SettingsError, CatalogError, JoinRefused, OSError) as exc:
        print(f"agentic-commerce-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
