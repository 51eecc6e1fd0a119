"""Where history is read: a PostgreSQL streaming replica when one is configured, else the primary.

Trends, the history API, its CSV export and the analytics read long ranges of samples and
their aggregates; on a busy plant those reads can go to a hot-standby replica
(DATABASE_REPLICA_URL), leaving the primary to the ingest worker's writes. Everything else stays
on the primary: every write, and every read that must see what was just written (a setpoint
write's state, the latest values, alarms, sessions, tokens). A replica lags the primary by the
time its WAL takes to arrive (milliseconds on a LAN), which a trend does not notice.

When the replica cannot be reached, history is read from the primary for REPLICA_RETRY_S and
then the replica is tried again; the switch is logged, never shown to the user as an error.
"""

from __future__ import annotations

import logging
import time
from typing import Any

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
