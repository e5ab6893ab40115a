"""The admin page in a real browser: headless Chromium against the real server process.

Chromium signs in through a local HTML file that auto-submits the form (the key is
never in a URL); the cookie lives in the profile, so later runs with the same
`--user-data-dir` open the page signed in. (The redirect right after sign-in comes
from a cross-site navigation, which does not carry a SameSite=Strict cookie: the
page itself is opened by a second run, like an operator typing its address.)
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import running_server

ADMIN_KEY = "admin_key_browser_5d21"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)
ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
RUN_TIMEOUT = 180.0
POLL_BUDGET_MS = 7000  # virtual time: the script polls every 2 s
AUTO_SIGN_IN = """<!doctype html>
<form id="sign-in" method="post" action="{action}"><input name="key" value="{key}"></form>
<script>document.getElementById("sign-in").submit();</script>
"""


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail(
            "chromium is not installed: ./scripts/test installs the Debian package "
            "`chromium` (or run `apt-get install -y chromium`)"
        )
    return binary


def artifacts_dir() -> Path:
    """Where the screenshot is kept: $ARTIFACTS_DIR, else tests/artifacts (git-ignored)."""
    path = Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).parents[1] / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_chromium(binary: str, profile: Path, *args: str) -> str:
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, timeout=RUN_TIMEOUT, check=False)
    stderr = result.stderr.decode(errors="replace")[-2000:]
    assert result.returncode == 0, f"chromium exited with {result.returncode}: {stderr}"
    return result.stdout.decode(errors="replace")


def acp_post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}{path}",
        headers={
            "Authorization": "Bearer api_key_demo_123",
            "API-Version": "2026-04-17",
            "Idempotency-Key": f"browser-{uuid.uuid4().hex}",
        },
        json=body,
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def create_session(base_url: str, **extra: Any) -> str:
    body = {"currency": "usd", "line_items": [{"id": "item_123"}], "capabilities": {}, **extra}
    return str(acp_post(base_url, "/checkout_sessions", body)["id"])


def place_order(base_url: str) -> None:
    """A completed checkout, so the outbox holds an order event (no receiver: pending)."""
    session_id = create_session(
        base_url, fulfillment_details={"name": "Jane Doe", "address": ADDRESS}
    )
    credential = {"type": "spt", "token": "tok_test_ok"}
    instrument = {"type": "card", "credential": credential}
    body = {"payment_data": {"handler_id": "card_tokenized", "instrument": instrument}}
    done = acp_post(base_url, f"/checkout_sessions/{session_id}/complete", body)
    assert done["status"] == "completed"


@pytest.mark.slow
def test_the_admin_page_shows_the_live_session_in_chromium(tmp_path: Path) -> None:
    binary = chromium()
    profile = tmp_path / "profile"
    with running_server(ADMIN_API_KEY=ADMIN_KEY) as server:
        session_id = create_session(server.base_url)
        place_order(server.base_url)
        page = f"{server.base_url}/admin/"
        sign_in = tmp_path / "sign-in.html"
        action = html.escape(f"{server.base_url}/admin/login")
        sign_in.write_text(AUTO_SIGN_IN.format(action=action, key=html.escape(ADMIN_KEY)))

        run_chromium(binary, profile, "--virtual-time-budget=5000", "--dump-dom", sign_in.as_uri())
        budget = f"--virtual-time-budget={POLL_BUDGET_MS}"
        dom = run_chromium(binary, profile, budget, "--dump-dom", page)
        assert 'id="actors"' in dom, f"not signed in: {dom[:2000]}"
        assert f"<td>{session_id}</td>" in dom, f"session not rendered: {dom[:4000]}"
        assert "<td>not_ready_for_payment</td>" in dom and "Updated " in dom
        assert "<td>order_create</td>" in dom and "<td>pending</td>" in dom

        screenshot = artifacts_dir() / "admin-page.png"
        screenshot.unlink(missing_ok=True)
        run_chromium(
            binary, profile, budget, "--window-size=1600,900", f"--screenshot={screenshot}", page
        )
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
