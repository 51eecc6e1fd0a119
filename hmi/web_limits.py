"""A time limit on every SQL statement a web request runs, and a clean 503 when one is hit.

A request whose query runs away (a long trend on plain PostgreSQL, a table locked by
maintenance) would otherwise hold one of daphne's threads and a pooled connection until it
ends, however long that is. Only web requests get the limit: the middleware sets it on the
request's connection, and the ingest worker, `migrate` and the other management commands,
whose batches and purges may rightly run long, never pass through it.

The limit is PostgreSQL's `statement_timeout`, set per request because pooled connections are
shared; a connection handed back to the web process's pool keeps it, which bounds the live
screens' snapshot queries in the same process too.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from django.conf import settings
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

DEFAULT_TIMEOUT_MS = 5000


def timeout_ms() -> int:
    """The limit in milliseconds (setting WEB_STATEMENT_TIMEOUT_MS); 0 turns it off."""
    return int(getattr(settings, "WEB_STATEMENT_TIMEOUT_MS", DEFAULT_TIMEOUT_MS))


def limit_statements(milliseconds: int) -> None:
    """Bound each later statement on this thread's connection to `milliseconds`.

    Sent on the raw connection: it is set-up of the session, not a query of the page, and
    through Django's cursor it would count in every page's query budget in the tests.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors:
        connection.connection.execute(f"SET statement_timeout = {int(milliseconds)}")


def was_cancelled(exc: BaseException) -> bool:
    """True for a statement PostgreSQL cancelled because it outlasted statement_timeout."""
    return isinstance(exc, OperationalError) and isinstance(
        exc.__cause__, psycopg.errors.QueryCanceled
    )


class StatementTimeoutMiddleware:
    """Give each web request's statements WEB_STATEMENT_TIMEOUT_MS; a cancelled one is a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit_statements(timeout_ms())
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not was_cancelled(exc):
            return None
        reason = (
            f"the database took longer than {timeout_ms()} ms to answer; "
            "ask for a shorter range or fewer tags, or try again"
        )
        response = JsonResponse({"error": reason}, status=503)
        response["Retry-After"] = "5"
        return response
