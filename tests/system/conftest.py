"""The browser fixtures: Debian's Chromium driven by Playwright against a live server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.helpers import ROOT
from tests.support.s3server import S3_BUCKET, free_port
from tests.system.browsing import CHROMIUM, DESKTOP


@pytest.fixture(scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API runs an event loop in this thread while this module runs; the ORM
    # calls here (and the database fixtures' own) are plain blocking ones.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright: None) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server, transactional_db) -> Iterator:
    """open_page(viewport=…, locale=…, javascript=…) → a fresh page on the live server."""
    contexts = []

    def opener(viewport: dict = DESKTOP, locale: str = "en-GB", javascript: bool = True):
        context = browser.new_context(viewport=viewport, locale=locale, java_script_enabled=javascript,
                                      base_url=live_server.url, accept_downloads=True)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # script errors and Content-Security-Policy violations
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda message: page.errors.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text else None)
        return page

    yield opener
    for context in contexts:
        context.close()




@pytest.fixture
def shots(tmp_path: Path):
    """shots(page, name): a screenshot of the whole page."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as image:
            assert image.width >= 300 and image.height >= 300
        return path

    return shoot


# ---------------------------------------------------------------------------
# The project's nginx in front of a web process


def render(template: Path, values: dict[str, str], replacements: dict[str, str]) -> str:
    """The template as the nginx image's envsubst fills it, pointed at this test's servers."""
    text = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template.read_text())
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {template.name}: update the test's stand-ins"
        text = text.replace(old, new)
    return text


@pytest.fixture
def web_env() -> dict[str, str]:
    """Settings of the web process behind `nginx` (a test module overrides this fixture to change them)."""
    return {}


@pytest.fixture
def nginx(tmp_path: Path, processes, s3_server, web_env) -> Iterator[str]:
    """The project's own nginx config (Debian's nginx) in front of a gunicorn web with two sync workers."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light; .ci/run does)")
    web = processes.start_web(NUM_PROXIES="1", **web_env)  # two sync workers: the ones a slow client could pin
    root = tmp_path / "nginx"
    for folder in ("body", "proxy", "static", "misc"):
        (root / folder).mkdir(parents=True)
    os.chmod(root / "body", 0o777)  # nginx's workers run as nobody
    os.chmod(root / "proxy", 0o777)
    port = free_port()
    (root / "locations.inc").write_text(render(ROOT / "nginx/locations.inc.template", {"S3_BUCKET": S3_BUCKET}, {
        "http://web:8000": web, "http://minio:9000": s3_server.endpoint, "/srv/static/": f"{root}/static/"}))
    (root / "site.conf").write_text(render(ROOT / "nginx/http.conf.template", {"SERVER_NAME": "localhost"}, {
        "listen 80;": f"listen 127.0.0.1:{port};", "/etc/nginx/conf.d/locations.inc": str(root / "locations.inc")}))
    (root / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/misc; uwsgi_temp_path {root}/misc; scgi_temp_path {root}/misc;
    include {root}/site.conf;
}}
""")
    check = subprocess.run(["nginx", "-t", "-p", str(root), "-e", str(root / "error.log"), "-c",
                            str(root / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(["nginx", "-p", str(root), "-e", str(root / "error.log"), "-c",
                               str(root / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"{url}/nginx-health", timeout=1)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, (root / "error.log").read_text()
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)
