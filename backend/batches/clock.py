"""One clock for every deadline: the database's. Web processes, workers and beat may run on hosts whose
clocks disagree; a batch's deadline, a file's heartbeat and the sweeper's judgement of both are all read
from the same place, so a worker hours behind neither ends a batch at once nor keeps it hours too long."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection


def db_now() -> datetime:
    """The database's current time (its wall clock now, not its transaction's start)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")  # SQLite: UTC, to the millisecond
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)
