"""The batch rate limit holds under concurrent requests, across web processes, straight to gunicorn
and through the project's nginx: one count in the database, taken atomically."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers import photo

pytestmark = pytest.mark.integration
LIMIT = 3
AT_ONCE = 40


@pytest.fixture
def web_env() -> dict[str, str]:
    return {"API_BATCH_CREATE_RATE": f"{LIMIT}/minute"}


def created_of(url: str) -> list[int]:
    image = photo()

    def create(_: int) -> int:
        return requests.post(f"{url}/api/v1/batches", data={"processor": "thumbnail"},
                             files=[("files", ("a.jpg", image, "image/jpeg"))], timeout=60).status_code

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(create, range(AT_ONCE)))


def test_concurrent_creations_straight_to_gunicorn_stop_at_the_limit(processes, web_env):
    url = processes.start_web(**web_env)  # two processes: each must see the other's count
    statuses = created_of(url)
    assert statuses.count(201) == LIMIT and statuses.count(429) == AT_ONCE - LIMIT, statuses


def test_concurrent_creations_through_nginx_stop_at_the_limit(nginx):
    statuses = created_of(nginx)
    assert statuses.count(201) == LIMIT and statuses.count(429) == AT_ONCE - LIMIT, statuses


def test_one_client_holds_at_most_its_share_of_uploads_in_parts_even_when_it_asks_at_once(processes):
    url = processes.start_web(API_UPLOAD_START_RATE="", UPLOAD_MAX_OPEN_PER_CLIENT="5",
                              UPLOAD_MAX_BYTES_PER_CLIENT=str(20 * 2**30), NUM_PROXIES="1")

    def start(client: str, size: int = 2**30) -> int:
        return requests.post(f"{url}/api/v1/uploads", json={"name": "film.mkv", "size": size}, timeout=60,
                             headers={"X-Forwarded-For": client}).status_code

    with ThreadPoolExecutor(AT_ONCE) as pool:
        statuses = list(pool.map(lambda _: start("203.0.113.7"), range(AT_ONCE)))
    assert statuses.count(201) == 5 and statuses.count(400) == AT_ONCE - 5, statuses
    # Another client has its own share; an IPv6 client counts by its /64, whatever its last 64 bits.
    assert start("203.0.113.8") == 201
    assert [start(f"2001:db8:1:2::{n:x}") for n in range(7)] == [201] * 5 + [400] * 2
    # Bytes declared count too: a third upload of 8 GiB passes the count (3 of 5), not the bytes (24 > 20 GiB).
    assert [start("198.51.100.1", 8 * 2**30) for _ in range(3)] == [201, 201, 400]
    assert start("198.51.100.1", 4 * 2**30) == 201, "what is left of its share"
