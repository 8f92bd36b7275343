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
