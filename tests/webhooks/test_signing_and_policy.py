"""The webhook signature helper (for receivers), its command, and the retry policy."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from agentic_commerce.webhooks import policy
from agentic_commerce.webhooks.signing import InvalidSignature, main, sign, verify

SECRET = "whsec_x"
BODY = b'{"type":"order_create"}'


def test_sign_then_verify_round_trip() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, header, BODY, now=1_700_000_010) == 1_700_000_000


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (None, BODY, 1_700_000_000),
        ("v1=abc", BODY, 1_700_000_000),
        (sign(SECRET, BODY, 1_700_000_000), BODY + b" ", 1_700_000_000),
        (sign("other", BODY, 1_700_000_000), BODY, 1_700_000_000),
        (sign(SECRET, BODY, 1_700_000_000), BODY, 1_700_000_301),
    ],
    ids=["missing", "malformed", "tampered", "wrong-secret", "too-old"],
)
def test_verify_refuses(header: str | None, body: bytes, now: float) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, header, body, now=now)


def test_command_verifies_a_body(tmp_path: pytest.TempPathFactory) -> None:
    body_file = tmp_path / "body.json"  # type: ignore[operator]
    body_file.write_bytes(BODY)
    assert (
        main(["--secret", SECRET, "--header", sign(SECRET, BODY), "--body-file", str(body_file)])
        == 0
    )
    bad = ["--secret", SECRET, "--header", sign("other", BODY), "--body-file", str(body_file)]
    assert main(bad) == 1
    result = subprocess.run(
        [sys.executable, "-m", "agentic_commerce.webhooks.signing", "--secret", SECRET,
         "--header", sign(SECRET, BODY)],
        input=BODY, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == b"valid"


SCHEDULE = (1.0, 5.0, 30.0)


@pytest.mark.parametrize(
    ("status", "attempts", "state"),
    [
        (200, 1, "delivered"),
        (204, 2, "delivered"),
        (None, 1, "pending"),
        (500, 3, "pending"),
        (429, 1, "pending"),
        (503, 4, "dead"),
        (400, 1, "dead"),
        (401, 1, "dead"),
        (404, 2, "dead"),
    ],
)
def test_judge(status: int | None, attempts: int, state: str) -> None:
    assert policy.judge(status, attempts, SCHEDULE).state == state


def test_delays_follow_the_schedule_with_jitter_and_retry_after() -> None:
    rng = random.Random(7)
    for attempt, base in enumerate(SCHEDULE, start=1):
        delay = policy.judge(500, attempt, SCHEDULE, rng=rng).delay
        assert base * 0.9 <= delay <= base * 1.1
    assert policy.judge(429, 1, SCHEDULE, retry_after=120.0).delay == 120.0
    assert policy.parse_retry_after("7") == 7.0
    assert policy.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
