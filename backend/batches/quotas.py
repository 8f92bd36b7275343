"""How much one client may do in a window of time, counted where every web process on every host
sees the same number: one row in the database per client, scope and window, incremented and read in
a single statement (an upsert), so concurrent requests cannot both pass on the same count."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from .clock import db_now
from .models import RateCount

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """DRF's notation ("30/minute", "300/m", "5/hour"); None for an empty or "0" rate: no limit."""
        if not text:
            return None
        number, _, period = text.partition("/")
        limit = int(number)
        if limit <= 0:
            return None
        return cls(limit, PERIODS[(period or "m")[0]])


def client_key(address: str) -> str:
    """A client as counted: its IPv4 address, or the /64 network of its IPv6 address (one host is
    usually given a whole /64, so counting single addresses would let it rotate)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address[:100] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4 client seen through an IPv6 socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def quota_take(scope: str, address: str, rate: Rate) -> int:
    """Count one more for this client in the current window; 0 when within the rate, else the seconds
    until the window ends. Windows are the database clock's, the same for every process and host."""
    now = db_now()
    window = int(now.timestamp()) // rate.seconds
    ends = (window + 1) * rate.seconds
    count = _count_up(f"{scope}:{client_key(address)}:{rate.seconds}:{window}",
                      now + timedelta(seconds=ends - now.timestamp()))
    return 0 if count <= rate.limit else max(1, int(ends - now.timestamp()))


def _count_up(key: str, expires_at: datetime) -> int:
    """One more on the row `key` (made at 1 if missing), in one statement; the new count. The row stays
    locked until the transaction ends."""
    table = RateCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS counted (key, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608 - our table
            "ON CONFLICT (key) DO UPDATE SET count = counted.count + 1 RETURNING count", [key, expires_at])
        return cursor.fetchone()[0]


def client_lock(client: str) -> None:
    """Hold this client's lock until the current transaction ends (its row in the counts' table, taken
    by the upsert): two requests of one client that check what it holds and then add to it run one
    after the other, on every process and host."""
    _count_up(f"lock:{client}", db_now() + timedelta(days=1))


def quotas_sweep() -> int:
    """Delete the counts of windows that have ended; how many."""
    return RateCount.objects.filter(expires_at__lt=db_now()).delete()[0]
