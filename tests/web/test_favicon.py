"""Every page names its icon, and the address browsers try anyway leads to it (no 404 per page view)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_pages_link_the_icon_and_favicon_ico_leads_to_it(client):
    page = client.get("/").content.decode()
    assert 'rel="icon" href="/static/web/favicon.svg"' in page
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301 and redirect["Location"] == "/static/web/favicon.svg"
    icon = client.get(redirect["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
