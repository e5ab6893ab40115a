"""OTP-style supervision: restart strategies, restart intensity and escalation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from agentic_commerce.actors.supervision import (
    ChildSpec,
    Escalation,
    Restart,
    RestartIntensity,
    Supervisor,
)
from tests.waiting import eventually

pytestmark = pytest.mark.kills_actors  # every test here crashes children on purpose


class Child:
    """A scripted child: `plan[i]` says what its i-th run does ("crash", "stop", "run")."""

    def __init__(self, name: str, plan: list[str], default: str = "run") -> None:
        self.name = name
        self.plan = plan
        self.default = default
        self.starts = 0
        self.running = trio.Event()

    async def __call__(self) -> None:
        action = self.plan[self.starts] if self.starts < len(self.plan) else self.default
        self.starts += 1
        if action == "crash":
            raise RuntimeError(f"{self.name} crashed")
        if action == "stop":
            return
        self.running.set()
        await trio.sleep_forever()

    def spec(self, restart: Restart = Restart.PERMANENT, kind: str = "service") -> ChildSpec:
        return ChildSpec(self.name, self, restart, kind)


async def run_then_cancel(supervisor: Supervisor, check: Callable[[], Awaitable[None]]) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await check()
        nursery.cancel_scope.cancel()


def test_restart_intensity_counts_within_the_period() -> None:
    async def main() -> None:
        intensity = RestartIntensity(max_restarts=2, period=5)
        assert intensity.record()
        assert intensity.record()
        assert not intensity.record()  # a third restart within 5 s
        await trio.sleep(5)
        assert intensity.record()  # the old ones fell out of the window
        intensity.reset()
        assert intensity.record() and intensity.record()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_one_for_one_restarts_a_crashed_permanent_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Child("flaky", ["crash", "crash"])
    steady = Child("steady", [])
    hooks: list[tuple[str, str]] = []
    sup = Supervisor(
        "sup",
        [flaky.spec(kind="worker"), steady.spec()],
        max_restarts=3,
        period=5,
        on_restart=lambda kind, cid: hooks.append((kind, cid)),
    )

    async def check() -> None:
        await flaky.running.wait()
        await steady.running.wait()
        assert flaky.starts == 3
        assert steady.starts == 1  # the sibling was left alone
        assert sup.restarts == 2
        assert hooks == [("worker", "flaky"), ("worker", "flaky")]

    await run_then_cancel(sup, check)


async def test_permanent_child_is_restarted_after_a_normal_stop_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    child = Child("p", ["stop"])
    sup = Supervisor("sup", [child.spec(Restart.PERMANENT)])

    async def check() -> None:
        await child.running.wait()
        assert child.starts == 2
        assert sup.restarts == 1

    await run_then_cancel(sup, check)


async def test_transient_child_restarted_after_crash_not_after_normal_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    child = Child("t", ["crash", "crash", "stop"], default="crash")
    sup = Supervisor("sup", [child.spec(Restart.TRANSIENT)], max_restarts=10)
    await sup.run()  # returns: its only child has stopped for good
    assert child.starts == 3
    assert sup.restarts == 2


async def test_transient_child_normal_stop_leaves_siblings_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    done = Child("done", ["stop"], default="crash")
    steady = Child("steady", [])
    sup = Supervisor("sup", [done.spec(Restart.TRANSIENT), steady.spec()])

    async def check() -> None:
        await steady.running.wait()
        await trio.sleep(100)
        assert done.starts == 1
        assert sup.restarts == 0

    await run_then_cancel(sup, check)


@pytest.mark.parametrize("first", ["crash", "stop"])
async def test_temporary_child_is_never_restarted(
    autojump_clock: trio.testing.MockClock, first: str
) -> None:
    child = Child("tmp", [first], default="crash")
    sup = Supervisor("sup", [child.spec(Restart.TEMPORARY)])
    await sup.run()
    assert child.starts == 1
    assert sup.restarts == 0


async def test_slow_crashes_never_exceed_the_intensity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    crashes = 0

    async def crash_every_ten_seconds() -> None:
        nonlocal crashes
        if crashes == 6:
            return
        await trio.sleep(10)
        crashes += 1
        raise RuntimeError("slow crash")

    sup = Supervisor(
        "sup",
        [ChildSpec("slow", crash_every_ten_seconds, Restart.TRANSIENT)],
        max_restarts=1,
        period=5,
    )
    await sup.run()  # no Escalation: one restart per 10 s is within 1 per 5 s
    assert crashes == 6
    assert sup.restarts == 6


async def test_escalation_restarts_the_subtree_under_the_parent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # inner allows 2 restarts per 5 s; its child crashes 3 times in a row, then settles.
    crasher = Child("crasher", ["crash", "crash", "crash"])
    sibling = Child("sibling", [])
    inner = Supervisor("inner", [crasher.spec(), sibling.spec()], max_restarts=2, period=5)
    inner_failures: list[BaseException] = []

    async def run_inner() -> None:
        try:
            await inner.run()
        except BaseException as exc:
            inner_failures.append(exc)
            raise

    other = Child("other", [])
    hooks: list[tuple[str, str]] = []
    outer = Supervisor(
        "outer",
        [ChildSpec("inner", run_inner, Restart.PERMANENT, "supervisor"), other.spec()],
        max_restarts=3,
        period=5,
        on_restart=lambda kind, cid: hooks.append((kind, cid)),
    )

    async def check() -> None:
        await eventually(lambda: crasher.starts == 4 and sibling.starts == 2, limit=1000)
        await crasher.running.wait()
        assert len(inner_failures) == 1
        assert isinstance(inner_failures[0], ExceptionGroup)
        assert inner_failures[0].subgroup(Escalation) is not None
        assert hooks == [("supervisor", "inner")]
        assert outer.restarts == 1
        # inner restarted its child twice, then escalated on the third crash.
        assert inner.restarts == 2
        # the parent's other child was not touched
        assert other.starts == 1
        await trio.sleep(100)
        assert (crasher.starts, sibling.starts, other.starts) == (4, 2, 1)

    await run_then_cancel(outer, check)


async def test_root_gives_up_when_its_own_intensity_is_exceeded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    always = Child("always", [], default="crash")
    inner = Supervisor("inner", [always.spec()], max_restarts=2, period=5)
    bystander = Child("bystander", [])
    root = Supervisor(
        "root",
        [ChildSpec("inner", inner.run, Restart.PERMANENT, "supervisor"), bystander.spec()],
        max_restarts=1,
        period=5,
    )
    with pytest.RaisesGroup(pytest.RaisesExc(Escalation, match="root")):
        await root.run()
    # inner escalated twice (3 crashes each): the root restarted it once, then gave up.
    assert always.starts == 6
    assert root.restarts == 1
    assert bystander.starts == 1


async def test_root_with_a_crash_looping_child_gives_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    always = Child("always", [], default="crash")
    root = Supervisor("root", [always.spec()], max_restarts=3, period=5)
    with pytest.RaisesGroup(Escalation):
        await root.run()
    assert always.starts == 4
    assert root.restarts == 3
