"""Slow clients cannot take the site down: through the project's own nginx config (Debian's nginx),
and against `make run`'s server, which has no nginx in front."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend.ops.management.commands.runstack import web_command
from tests.helpers import ROOT, photo
from tests.support.s3server import S3_BUCKET, free_port

pytestmark = pytest.mark.integration
SLOW_CLIENTS = 20
# A functional bound, not a speed target: a site whose web workers are all pinned never answers.
ANSWER_WITHIN = 5


def render(template: Path, values: dict[str, str], replacements: dict[str, str]) -> str:
    """The template as the nginx image's envsubst fills it, pointed at this test's servers."""
    text = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template.read_text())
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {template.name}: update the test's stand-ins"
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx(tmp_path: Path, processes, s3_server) -> Iterator[str]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light; .ci/run does)")
    web = processes.start_web(NUM_PROXIES="1")  # two sync workers: the ones a slow client could pin
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


class SlowUploads:
    """Clients that announce a large upload and send one byte every two seconds."""

    def __init__(self, url: str, count: int) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        for _ in range(count):
            sock = socket.create_connection((self.host, int(self.port)), timeout=10)
            sock.sendall((f"POST /api/v1/batches HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: 1000000\r\n"
                          "Content-Type: multipart/form-data; boundary=slow\r\n\r\n--slow\r\n").encode())
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()
        time.sleep(3)  # well past the moment a server hands them to its workers

    def _trickle(self) -> None:
        while not self.stop.wait(2):
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # a server may close a connection it has given up on
                    sock.send(b"x")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def assert_the_site_answers(url: str) -> None:
    assert requests.get(f"{url}/healthz", timeout=ANSWER_WITHIN).status_code == 200
    created = requests.post(f"{url}/api/v1/batches", data={"processor": "thumbnail"},
                            files=[("files", ("a.jpg", photo(), "image/jpeg"))], timeout=ANSWER_WITHIN)
    assert created.status_code == 201, created.text[:500]


def test_slow_uploads_through_nginx_leave_the_site_answering(nginx):
    slow = SlowUploads(nginx, SLOW_CLIENTS)
    try:
        assert_the_site_answers(nginx)
    finally:
        slow.close()


def test_slow_uploads_to_make_runs_server_leave_it_answering(processes):
    url = processes.start_web(web_command("{bind}"))
    slow = SlowUploads(url, SLOW_CLIENTS)
    try:
        assert_the_site_answers(url)
    finally:
        slow.close()
