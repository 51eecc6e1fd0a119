"""Where history is read: a PostgreSQL streaming replica when one is configured, else the primary.

Trends, the history API, its CSV export and the analytics (OEE, SPC, maintenance, energy: their
pages, APIs and exports) read long ranges of samples and their aggregates; on a busy plant those
reads can go to a hot-standby replica (DATABASE_REPLICA_URL), leaving the primary to the ingest
worker's writes. Everything else stays on the primary: every write, and every read that must see
what was just written (a setpoint write's state, the latest values, alarms, sessions, tokens, a
POST that tags a stop and shows the result, and the ingest worker's own analytics jobs, which
read the samples they stored a moment ago).

The analytics modules of the core (plant.historian, plant.counters, plant.energy_history,
plant.spc_history, plant.oee_queries) read samples through `samples_connection`: the primary,
except inside `history_reads()`, which the analytics views enter for a GET (`reads_history`).
A replica lags the primary by the time its WAL takes to arrive (milliseconds on a LAN), which a
trend does not notice.

When the replica cannot be reached, history is read from the primary for REPLICA_RETRY_S and
then the replica is tried again; the switch is logged, never shown to the user as an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger(__name__)

REPLICA = "replica"
REPLICA_RETRY_S = 30.0
# Models whose ORM reads may go to the replica (the historian reads them mostly in raw SQL,
# through history_connection()).
HISTORY_MODELS = frozenset({"plant.Sample"})
_down_until = 0.0
# Set while a view that may read history from the replica runs (history_reads()).
_history_reads: ContextVar[bool] = ContextVar("history_reads", default=False)
P = ParamSpec("P")
R = TypeVar("R")


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def history_alias() -> str:
    """The database alias history reads use now: the replica if configured and reachable."""
    global _down_until
    if not replica_configured() or time.monotonic() < _down_until:
        return DEFAULT_DB_ALIAS
    try:
        connections[REPLICA].ensure_connection()
    except (OperationalError, InterfaceError) as error:
        _down_until = time.monotonic() + REPLICA_RETRY_S
        log.warning(
            "the read replica cannot be reached (%s): history is read from the primary "
            "for the next %.0f s",
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
            REPLICA_RETRY_S,
        )
        return DEFAULT_DB_ALIAS
    return REPLICA


def history_connection() -> BaseDatabaseWrapper:
    """The connection (of this thread) that history reads go through."""
    return connections[history_alias()]


@contextmanager
def history_reads() -> Iterator[None]:
    """Within: `samples_connection` is history_connection() (the replica, when configured)."""
    token = _history_reads.set(True)
    try:
        yield
    finally:
        _history_reads.reset(token)


def reads_history(view: Callable[P, R]) -> Callable[P, R]:
    """A view decorator: a GET or HEAD reads samples through the replica (history_reads());
    any other method, a write that may show what it wrote, stays on the primary."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        request = args[0]
        if getattr(request, "method", None) not in ("GET", "HEAD"):
            return view(*args, **kwargs)
        with history_reads():
            return view(*args, **kwargs)

    return wrapper


def samples_alias() -> str:
    """The alias the core's sample reads use now: history_alias() inside history_reads(), else
    the primary."""
    return history_alias() if _history_reads.get() else DEFAULT_DB_ALIAS


class _SamplesConnection:
    """Stands in for a connection: each attribute is that of connections[samples_alias()]."""

    def __getattr__(self, name: str) -> Any:
        return getattr(connections[samples_alias()], name)


# The default connection of the core's sample reads (plant.historian and the analytics).
samples_connection = cast(BaseDatabaseWrapper, _SamplesConnection())


class ReadReplicaRouter:
    """Django's database router: ORM reads of the samples follow history_alias(); all other
    reads and every write go to the primary; migrations run on the primary only (a replica
    gets the schema by replication)."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return history_alias() if model._meta.label in HISTORY_MODELS else DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, twice: every object is on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
