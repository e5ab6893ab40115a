"""REDIS_MODE, REDIS_SENTINELS and REDIS_SENTINEL_MASTER: what each mode needs, and clear
refusals of what it lacks or would ignore."""

from __future__ import annotations

import pytest

from agentic_commerce.config.settings import Settings, SettingsError

SENTINELS = "sentinel-a:26379, sentinel-b:26380,[2001:db8::7]:26381"


def test_single_is_the_default_and_needs_nothing() -> None:
    settings = Settings.from_env({})
    assert settings.redis_mode == "single"
    assert (settings.redis_sentinels, settings.redis_sentinel_master) == ((), None)
    assert Settings.from_env({"REDIS_URL": "redis://r:6379/0"}).redis_mode == "single"


def test_cluster_reads_any_seed_node_from_redis_url() -> None:
    settings = Settings.from_env({"REDIS_MODE": " Cluster ", "REDIS_URL": "redis://node-3:7002"})
    assert (settings.redis_mode, settings.redis_url) == ("cluster", "redis://node-3:7002")


def test_cluster_without_redis_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="REDIS_MODE=cluster needs REDIS_URL"):
        Settings.from_env({"REDIS_MODE": "cluster"})


def test_sentinel_reads_the_sentinels_and_the_master() -> None:
    env = {"REDIS_MODE": "sentinel", "REDIS_SENTINELS": SENTINELS, "REDIS_SENTINEL_MASTER": "m1"}
    settings = Settings.from_env(env)
    assert settings.redis_sentinels == (
        ("sentinel-a", 26379),
        ("sentinel-b", 26380),
        ("2001:db8::7", 26381),
    )
    assert (settings.redis_sentinel_master, settings.redis_url) == ("m1", None)
    assert settings.uses_redis  # no REDIS_URL: the sentinels name the master
    with_url = Settings.from_env({**env, "REDIS_URL": "redis://:pw@ignored:6379/2"})
    assert with_url.redis_url == "redis://:pw@ignored:6379/2"  # for its database and password


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": SENTINELS}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_MASTER": "m1"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": " , ", "REDIS_SENTINEL_MASTER": "m1"}, "REDIS_SENTINELS"),
    ],
)
def test_sentinel_without_its_settings_is_refused(env: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"REDIS_MODE": "sentinel", **env})
    assert str(refused.value) == f"REDIS_MODE=sentinel needs {missing}"


@pytest.mark.parametrize("mode", ["", "single", "cluster"])
def test_sentinel_settings_outside_sentinel_mode_are_refused(mode: str) -> None:
    env = {"REDIS_MODE": mode, "REDIS_URL": "redis://r:6379", "REDIS_SENTINEL_MASTER": "m1"}
    with pytest.raises(
        SettingsError, match="would ignore REDIS_SENTINEL_MASTER: set it to sentinel"
    ):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("REDIS_MODE", "replicas", "REDIS_MODE must be one of single, cluster, sentinel"),
        ("REDIS_SENTINELS", "sentinel-a", "REDIS_SENTINELS entries must look like host:port"),
        ("REDIS_SENTINELS", "sentinel-a:0", "REDIS_SENTINELS entries must look like host:port"),
        ("REDIS_SENTINELS", "a:1,:26379", "REDIS_SENTINELS entries must look like host:port"),
        ("REDIS_SENTINELS", "sentinel-a:port", "REDIS_SENTINELS entries must look like host:port"),
        ("REDIS_SENTINELS", "sentinel-a:65536", "REDIS_SENTINELS entries must look like host:port"),
    ],
)
def test_bad_redis_values_are_refused_by_name(name: str, value: str, reason: str) -> None:
    env = {"REDIS_MODE": "sentinel", "REDIS_SENTINELS": "s:1", "REDIS_SENTINEL_MASTER": "m1"}
    with pytest.raises(SettingsError, match=reason):
        Settings.from_env({**env, name: value})


def test_production_takes_the_sentinels_for_redis() -> None:
    production = {
        "APP_ENV": "production",
        "API_KEYS": "live_key_0123456789abcdefghij:merchant_acme",
        "STRIPE_SECRET_KEY": "sk_live_placeholder",
    }
    sentinel = {"REDIS_MODE": "sentinel", "REDIS_SENTINELS": "s:1", "REDIS_SENTINEL_MASTER": "m"}
    assert Settings.from_env({**production, **sentinel}).production_problems() == []
    (problem,) = Settings.from_env(production).production_problems()
    assert "REDIS_URL" in problem
