"""The real process refuses a mistyped APP_ENV and unsafe production settings at start."""

from __future__ import annotations

import subprocess
import sys

SHORT_ADMIN_KEY = "adm1n_short_key"  # 15 characters
SHORT_API_KEY = "shortApiKey9"


def start(**env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agentic_commerce"],
        env={"PATH": "/usr/bin:/bin", "PORT": "0", **env},
        capture_output=True,
        timeout=60,
    )


def test_a_mistyped_app_env_exits_with_status_2_naming_it() -> None:
    result = start(APP_ENV="prod")
    assert result.returncode == 2
    assert b"APP_ENV must be one of development, production" in result.stderr


def test_production_names_each_problem_and_no_secret() -> None:
    result = start(
        APP_ENV="production",
        API_KEYS=f"{SHORT_API_KEY}:merchant_acme",
        ADMIN_API_KEY=SHORT_ADMIN_KEY,
    )
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "APP_ENV=production refuses to start" in err
    for name in ("API_KEYS", "ADMIN_API_KEY", "REDIS_URL", "STRIPE_SECRET_KEY"):
        assert name in err
    assert SHORT_ADMIN_KEY not in err and SHORT_API_KEY not in err
