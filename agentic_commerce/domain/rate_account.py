"""One instance's own account of GCRA buckets, settled with the shared store in batches.

Requests are judged here, with no store call; what this instance admitted reaches the
shared bucket at its next settlement, and what other instances admitted comes back
with it. The rules:

1. Exact here. A request is judged by `rate_limit.decide` on this account's TAT for
   its key, so one instance alone makes exactly the decisions of one shared bucket.
2. A batch is what this account admitted on a key since its last settlement, kept as
   the change it makes to a TAT `x`: `max(x advanced by count intervals, tat)`, where
   `tat` is the TAT the batch's requests alone leave in an empty bucket. That is
   exactly (to the last bit: the intervals are added one by one, as each request
   would) the TAT of counting each request at its own time after `x`, so the shared
   bucket counts every request once, as if it had been counted there on arrival.
   Batches of several instances applied out of time order can only leave it later.
3. Settlement hands the batches over (`drain`) and starts new ones; the store applies
   each to its shared TAT. A settlement that failed gives its batches back
   (`restore`): followed by those admitted since, each request still counts once.
4. Merge, never add. A shared TAT read back is first advanced by this account's
   requests since the drain (the store has not seen them yet), then the local TAT
   becomes the later of the two. The shared TAT holds each settled request once, the
   local one each of this account's requests once, and a maximum counts nothing
   twice. On one instance the advanced shared TAT *is* the local one, so merging
   changes no decision and rule 1 holds.
5. Bounded. A key whose TAT has passed and that holds no batch is dropped (`prune`):
   a passed TAT decides like none, so forgetting it changes no decision, and the
   account holds only keys used within their window (plus those not yet settled).

What this bounds across instances is in the README ("Security": rate limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentic_commerce.domain.rate_limit import Decision, Limit, decide


def advanced(tat: float, count: int, interval: float) -> float:
    """`tat` plus `count` intervals, added one at a time as GCRA counts requests (the
    store's settlement script adds them the same way, so both get the same bits)."""
    for _ in range(count):
        tat += interval
    return tat


@dataclass(frozen=True, slots=True)
class Batch:
    """Requests admitted on one key (of one limit) since the last settlement."""

    count: int
    interval: float
    tat: float  # the TAT these requests alone leave in an empty bucket

    @classmethod
    def one(cls, interval: float, now: float) -> Batch:
        return cls(1, interval, now + interval)

    def applied_to(self, tat: float | None) -> float:
        """The TAT after counting these requests, at their own times, on top of `tat`."""
        if tat is None:
            return self.tat
        return max(advanced(tat, self.count, self.interval), self.tat)

    def then(self, later: Batch) -> Batch:
        """This batch followed by `later`, as one."""
        return Batch(self.count + later.count, self.interval, later.applied_to(self.tat))


class RateAccount:
    """The TAT of each key this instance knows, and its batches not yet settled."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._batches: dict[str, Batch] = {}

    def __len__(self) -> int:
        """Keys held (a key with a batch always has a TAT)."""
        return len(self._tats)

    def tat(self, key: str) -> float | None:
        return self._tats.get(key)

    def admit(self, key: str, limit: Limit, now: float) -> Decision:
        """Judge one request (rule 1) and, when allowed, count it in the key's batch."""
        decision, tat = decide(limit, self._tats.get(key), now)
        if decision.allowed:
            self._tats[key] = tat
            request = Batch.one(limit.interval, now)
            earlier = self._batches.get(key)
            self._batches[key] = request if earlier is None else earlier.then(request)
        return decision

    def peek(self, key: str, limit: Limit, now: float) -> Decision:
        """The decision `admit` would make at `now`, counting nothing."""
        return decide(limit, self._tats.get(key), now)[0]

    def drain(self) -> dict[str, Batch]:
        """The batches to settle; new ones start empty (rule 3)."""
        batches, self._batches = self._batches, {}
        return batches

    def restore(self, batches: Mapping[str, Batch]) -> None:
        """Take back batches whose settlement failed, ahead of those admitted since."""
        for key, batch in batches.items():
            later = self._batches.get(key)
            self._batches[key] = batch if later is None else batch.then(later)

    def merge(self, shared: Mapping[str, float]) -> None:
        """Learn shared TATs (rule 4): each advanced by this account's unsettled batch."""
        for key, tat in shared.items():
            pending = self._batches.get(key)
            seen = tat if pending is None else pending.applied_to(tat)
            local = self._tats.get(key)
            self._tats[key] = seen if local is None else max(local, seen)

    def prune(self, now: float) -> None:
        """Forget keys whose TAT has passed and that hold no batch (rule 5)."""
        for key in [k for k, tat in self._tats.items() if tat <= now and k not in self._batches]:
            del self._tats[key]
