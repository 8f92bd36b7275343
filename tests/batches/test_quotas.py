"""Counting what one client does (`batches.quotas`): who a client is, rates as written in settings, and a
count that is exact under concurrent requests (tests/system/test_rate_limits.py sends them at once)."""

import pytest

from backend.batches.models import RateCount
from backend.batches.quotas import Rate, client_key, quota_take, quotas_sweep


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("fe80::1%eth0", "fe80::/64"),
    ("", "unknown"),
    ("not an address", "not an address"),
])
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(address, key):
    assert client_key(address) == key


@pytest.mark.parametrize(("text", "rate"), [
    ("30/minute", Rate(30, 60)), ("300/m", Rate(300, 60)), ("5/hour", Rate(5, 3600)), ("2/s", Rate(2, 1)),
    ("1/day", Rate(1, 86400)), ("", None), ("0/minute", None),
])
def test_rates_are_read_as_written_in_settings(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.django_db
def test_a_window_counts_up_to_its_limit_then_says_how_long_to_wait():
    rate = Rate(2, 3600)
    waits = [quota_take("test", "198.51.100.1", rate) for _ in range(4)]
    assert waits[:2] == [0, 0] and all(0 < wait <= 3600 for wait in waits[2:])
    assert quota_take("test", "198.51.100.2", rate) == 0, "another client counts apart"
    assert quota_take("other", "198.51.100.1", rate) == 0, "another scope counts apart"
    assert RateCount.objects.count() == 3 and quotas_sweep() == 0, "windows still open are kept"
