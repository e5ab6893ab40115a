"""Keys (prefix `acs:`). A hash tag `{...}` puts the keys of one session on one
Redis Cluster slot, so its commit is one script:

    acs:{<sid>}:session           hash  v (version), doc (JSON), open (1/0), exp (µs)
    acs:{<sid>}:ev                list  the session's event ids, oldest first
    acs:{<sid>}:ev:doc / :ev:meta hash  id -> event JSON / "state ready_µs lease_µs"
    acs:{<sid>}:held              set   products the holder (a session) may hold
    acs:{<partition>}:idem:<scope>   idempotency: `claim:<holder>` while its request runs
                                     (PX, renewed), then the record (expires with it):
                                     writing the answer ends the claim in the same write
    acs:{stock:<product>}         hash  on_hand, reserved, h:<holder> -> units
    acs:{<token id>}:token        hash  doc (JSON), by (the consuming session)
    acs:{feedpush:<target>}       hash  the remote feed pushed to (`feed`) and the digest
                                        of each product it accepted (`p:<product id>`)
    acs:expiry                    zset  open session ids by expires_at (µs)
    acs:holds                     zset  holders by when to look at them again (the time
                                        of their last hold, then their session's expiry)
    acs:order:<order id>          the session id holding the order
    acs:{rl}:<key>                GCRA TAT (expiring)
    acs:{rl}:busy                 zset  rate-limit keys by TAT: each settled one, and a
                                        counted one once full (pruned as TATs pass)
    acs:sig:<sig>                 replay cache entry (expiring)
    acs:revoked:<credential id>   a revoked admin-page sign-in (expires with it)
    acs:{instances}:members       zset  live instances ('lone:'/'shared:' + id) by lapse time
    acs:{instances}:<id>          an instance's internal URL (set with its registration)
    acs:{outbox}:all|live|delivered|dead   zsets of event ids by creation sequence
    acs:{outbox}:where            hash  event id -> session id
    acs:{outbox}:due / :touched   zset / hash  session id -> when its head event is
                                  due (µs) / last index write (wall µs)

Cross-slot indexes: intents first, truth second, readers verify. The expiry
index, the order pointers, the outbox index and a holder's product set cannot
share a slot with what they index, so they are written *before* the write they
describe (ahead of it in the same pipeline, which one Redis runs in order) and
only ever hold a superset of the truth: a process that dies between the two steps
leaves an index entry pointing at nothing, never a committed session, order,
event or hold that no index finds. So an acknowledged order always has its
webhook event in the outbox and the outbox index, with no repair job needed.
Readers check each entry against its slot (`due_sessions` reads the session,
`claim_due_events` runs the session's own script, `load_order` checks the
session's order) and clean up: an entry is dropped when the truth says it is
not needed, and an entry without any truth only once it is older than
`INTENT_GRACE_SECONDS` (its write can no longer be in flight). The price of the
superset is a wasted check now and then. A claim racing a commit (it finds the
intent but not yet the events, and puts the session off by the grace period) is
undone by the commit's last step, which marks the session due now with a score
that claim never read; only a process dying right before that step leaves the
delivery late, by the grace period at most.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from agentic_commerce.store.base import (
    partition_of,
)

# A `redis.Redis` or a pipeline: jobs read replies by position, which redis-py's
# per-command union types cannot express.
Client = Any

INTENT_GRACE_SECONDS = 60.0

FINISHED = ("delivered", "dead")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ONE_US = timedelta(microseconds=1)

BUSY = "acs:{rl}:busy"

EXPIRY = "acs:expiry"

MEMBERS_KEY = "acs:{instances}:members"  # on one slot with the instance URLs

# Due scores of freshly committed events: below every real due time (so due now),
# unique per commit (wall µs) and in commit order among themselves.
FRESH_COMMIT_BASE_US = 2**53

HOLDS = "acs:holds"

OUTBOX_ALL = "acs:{outbox}:all"

OUTBOX_LIVE = "acs:{outbox}:live"

OUTBOX_WHERE = "acs:{outbox}:where"

OUTBOX_SEQ = "acs:{outbox}:seq"

OUTBOX_DUE = "acs:{outbox}:due"

OUTBOX_TOUCHED = "acs:{outbox}:touched"

OUTBOX_SETS = {"live": OUTBOX_LIVE, **{s: f"acs:{{outbox}}:{s}" for s in FINISHED}}


def us(at: datetime) -> int:
    """Exact microseconds since the epoch (a float timestamp would round)."""
    return (at - EPOCH) // ONE_US


def at(us: int) -> datetime:
    return EPOCH + us * ONE_US


def wall_us() -> int:
    """Wall time, for the age of index writes (due times follow the caller's clock)."""
    return time.time_ns() // 1000


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def session_keys(sid: str) -> tuple[str, str, str, str]:
    """The session hash and its outbox: order list, docs, delivery metadata."""
    tag = f"acs:{{{sid}}}"
    return f"{tag}:session", f"{tag}:ev", f"{tag}:ev:doc", f"{tag}:ev:meta"


def cart_key(cart_id: str) -> str:
    """On the cart's slot, with the idempotency records of its requests."""
    return f"acs:{{{cart_id}}}:cart"


def idempotency_key(scope: str) -> str:
    """One key per scope: its in-flight claim, then its answer (which replaces the claim)."""
    return f"acs:{{{partition_of(scope)}}}:idem:{scope}"


def claim_value(holder: str) -> bytes:
    return CLAIM_PREFIX + holder.encode()


def held_key(holder: str) -> str:
    return f"acs:{{{holder}}}:held"


def lease_key(session_id: str) -> str:
    """Beside the session's state, on its slot."""
    return f"acs:{{{session_id}}}:lease"


def ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def stock_key(product_id: str) -> str:
    return f"acs:{{stock:{product_id}}}"


def token_key(token_id: str) -> str:
    return f"acs:{{{token_id}}}:token"


def authentication_key(session_id: str) -> str:
    return f"acs:{{{session_id}}}:authentication"


def feed_key(feed_id: str) -> str:
    return f"acs:{{{feed_id}}}:feed"


def feed_push_key(target: str) -> str:
    """One hash per remote feed: `feed` (its id), `p:<product id>` (the digest pushed)."""
    return f"acs:{{feedpush:{target}}}"


def instance_key(instance_id: str) -> str:
    return f"acs:{{instances}}:{instance_id}"


def revocation_key(credential_id: str) -> str:
    return f"acs:revoked:{credential_id}"


def order_key(order_id: str) -> str:
    return f"acs:order:{order_id}"


def bucket_key(key: str) -> str:
    """A rate-limit bucket, on the slot of the busy index."""
    return f"acs:{{rl}}:{key}"


def pxat(expires_at: float) -> int:
    return math.ceil(expires_at * 1000)


CLAIM_PREFIX = b"claim:"  # an idempotency key's value while its request runs (records are JSON)
