"""The session state machine: one table, terminal statuses never left."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.domain.model import Status
from agentic_commerce.domain.state_machine import (
    TERMINAL,
    TRANSITIONS,
    Event,
    InvalidTransition,
    allowed,
    transition,
)

S = Status
E = Event
NOT_READY, READY = S.NOT_READY_FOR_PAYMENT, S.READY_FOR_PAYMENT
AUTH, IN_PROGRESS = S.AUTHENTICATION_REQUIRED, S.COMPLETE_IN_PROGRESS

# The expected table, written out independently of the implementation:
# (status, event) -> target when ready=False, target when ready=True.
EXPECTED: dict[tuple[Status, Event], tuple[Status, Status]] = {
    (NOT_READY, E.EVALUATE): (NOT_READY, READY),
    (READY, E.EVALUATE): (NOT_READY, READY),
    (AUTH, E.EVALUATE): (AUTH, AUTH),  # the charge is unchanged: it still waits
    (AUTH, E.VOID_AUTHENTICATION): (NOT_READY, READY),
    (READY, E.BEGIN_COMPLETE): (IN_PROGRESS, IN_PROGRESS),
    (AUTH, E.BEGIN_COMPLETE): (IN_PROGRESS, IN_PROGRESS),
    (IN_PROGRESS, E.PAYMENT_SUCCEEDED): (S.COMPLETED, S.COMPLETED),
    (IN_PROGRESS, E.PAYMENT_FAILED): (READY, READY),
    (IN_PROGRESS, E.AUTHENTICATION_NEEDED): (AUTH, AUTH),
    (NOT_READY, E.CANCEL): (S.CANCELED, S.CANCELED),
    (READY, E.CANCEL): (S.CANCELED, S.CANCELED),
    (AUTH, E.CANCEL): (S.CANCELED, S.CANCELED),
    (NOT_READY, E.EXPIRE): (S.EXPIRED, S.EXPIRED),
    (READY, E.EXPIRE): (S.EXPIRED, S.EXPIRED),
    (AUTH, E.EXPIRE): (S.EXPIRED, S.EXPIRED),
}
ALL_PAIRS = list(itertools.product(Status, Event))


def test_terminal_statuses() -> None:
    assert frozenset({S.COMPLETED, S.CANCELED, S.EXPIRED}) == TERMINAL


def test_table_lists_exactly_the_expected_pairs() -> None:
    assert set(TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize(("status", "event"), ALL_PAIRS, ids=lambda v: v.value)
def test_allowed_matches_table(status: Status, event: Event) -> None:
    assert allowed(status, event) is ((status, event) in EXPECTED)


@pytest.mark.parametrize(("status", "event"), list(EXPECTED), ids=lambda v: v.value)
def test_allowed_transition_targets(status: Status, event: Event) -> None:
    not_ready_target, ready_target = EXPECTED[(status, event)]
    assert transition(status, event, ready=False) is not_ready_target
    assert transition(status, event, ready=True) is ready_target


@pytest.mark.parametrize(
    ("status", "event"),
    [pair for pair in ALL_PAIRS if pair not in EXPECTED],
    ids=lambda v: v.value,
)
def test_forbidden_transitions_raise(status: Status, event: Event) -> None:
    for ready in (False, True):
        with pytest.raises(InvalidTransition) as info:
            transition(status, event, ready=ready)
        assert info.value.status is status
        assert info.value.event is event
        assert status.value in str(info.value)
        assert event.value in str(info.value)


@pytest.mark.parametrize(
    ("status", "event"),
    [(NOT_READY, E.EVALUATE), (READY, E.EVALUATE), (AUTH, E.VOID_AUTHENTICATION)],
)
def test_evaluate_picks_readiness(status: Status, event: Event) -> None:
    assert transition(status, event, ready=True) is READY
    assert transition(status, event, ready=False) is NOT_READY
    assert transition(status, event) is NOT_READY  # not ready unless told


def test_a_pending_authentication_survives_evaluation_only() -> None:
    for ready in (False, True):
        assert transition(AUTH, E.EVALUATE, ready=ready) is AUTH
    with pytest.raises(InvalidTransition):
        transition(READY, E.VOID_AUTHENTICATION, ready=True)


def test_complete_in_progress_cannot_be_re_evaluated_or_begun_again() -> None:
    with pytest.raises(InvalidTransition):
        transition(IN_PROGRESS, E.EVALUATE, ready=True)
    with pytest.raises(InvalidTransition):
        transition(IN_PROGRESS, E.BEGIN_COMPLETE)
    with pytest.raises(InvalidTransition):
        transition(NOT_READY, E.BEGIN_COMPLETE)


@pytest.mark.parametrize("status", sorted(TERMINAL))
@pytest.mark.parametrize("event", list(Event))
def test_no_event_leaves_a_terminal_status(status: Status, event: Event) -> None:
    assert not allowed(status, event)
    with pytest.raises(InvalidTransition):
        transition(status, event, ready=True)


steps = st.lists(st.tuples(st.sampled_from(Event), st.booleans()), max_size=40)


@given(start=st.sampled_from(Status), events=steps)
def test_no_sequence_of_events_leaves_a_terminal_status(
    start: Status, events: list[tuple[Event, bool]]
) -> None:
    status = start
    reached_terminal = status in TERMINAL
    for event, ready in events:
        if status in TERMINAL:
            with pytest.raises(InvalidTransition):
                transition(status, event, ready=ready)
            continue
        try:
            after = transition(status, event, ready=ready)
        except InvalidTransition:
            assert not allowed(status, event)
            continue
        assert allowed(status, event)
        assert after in EXPECTED[(status, event)]
        status = after
        reached_terminal = reached_terminal or status in TERMINAL
    if reached_terminal:
        assert status in TERMINAL
