"""Shared fixtures: a real S3 server (SeaweedFS), real worker processes, test images.

The suite runs on whatever DATABASE_URL and CELERY_BROKER_URL name (CI: the
machine's Postgres and Redis), or on the embedded SQLite and filesystem broker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.helpers import ROOT, database_url, purge_broker, s3_storage_setting
from tests.support.s3server import S3Server
from tests.support.webhooks import Receiver

# ---------------------------------------------------------------------------
# S3: SeaweedFS on loopback (tests/support/s3server.py)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    workdir = Path(tempfile.mkdtemp(prefix="mediaconv-weed-"))
    server = S3Server(workdir)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def uses_s3(request: pytest.FixtureRequest) -> bool:
    """Marked `s3`, or running real worker processes (which share nothing with the test but S3)."""
    return bool(request.node.get_closest_marker("s3")) or bool(
        {"processes", "s3_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def s3_storage(request: pytest.FixtureRequest, settings) -> S3Server | None:
    """Tests store in a local folder of their own; those that need S3 get the real SeaweedFS server."""
    if not uses_s3(request):
        settings.STORAGES = {**settings.STORAGES, "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(request.getfixturevalue("tmp_path") / "media"), "allow_overwrite": True},
        }}
        return None
    server = request.getfixturevalue("s3_server")
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_setting(server)}
    settings.S3_PUBLIC_ENDPOINT_URL = None
    return server


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters and cached pages start empty in every test (the tests' cache is in-process)."""
    from django.core.cache import cache

    if django_settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):  # never flush a shared Redis
        cache.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "s3: store on the real S3 server (SeaweedFS) instead of a local folder")


# ---------------------------------------------------------------------------
# Real worker processes


class Processes:
    """Starts worker and beat processes that share this test's database, broker and S3."""

    def __init__(self, server: S3Server, logdir: Path) -> None:
        self.server = server
        self.logdir = logdir
        self.running: list[subprocess.Popen] = []

    def env(self, **overrides: object) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
        env.update(self.server.env())
        env.update({
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            "DATA_DIR": str(django_settings.DATA_DIR),
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "INFO",
        })
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    def start(self, role: str = "worker", *extra: str, **env: object) -> subprocess.Popen:
        return self.start_with([], role, *extra, **env)

    def start_with(self, prefix: list[str], role: str, *extra: str, **env: object) -> subprocess.Popen:
        """Start a process under a command prefix (e.g. `ip netns exec <name>` for another "host")."""
        log = open(self.logdir / f"{role}-{len(self.running)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([*prefix, sys.executable, "-m", "workers", role, *extra], cwd=ROOT,
                                   env=self.env(**env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        return process

    def start_web(self, argv: list[str] | None = None, **env: object) -> str:
        """A gunicorn web process on a free loopback port; returns its base URL.

        `argv(bind)` gives the command (default: two sync workers); a "{bind}" item takes the address."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = argv or [sys.executable, "-m", "gunicorn", "backend.config.wsgi", "--bind", "{bind}",
                           "--no-control-socket", "--workers", "2"]
        command = [item.replace("{bind}", f"127.0.0.1:{port}") for item in command]
        log = open(self.logdir / f"web-{len(self.running)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(command, cwd=ROOT, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.running.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return url
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start: {self.log_of(process)[-2000:]}")

    def log_of(self, process: subprocess.Popen) -> str:
        index = self.running.index(process)
        return next(self.logdir.glob(f"*-{index}.log")).read_text(errors="replace")

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass

    def stop_all(self) -> None:
        for process in self.running:
            self.stop(process)

    def logs(self) -> str:
        return "\n".join(f"==> {p.name}\n{p.read_text(errors='replace')[-6000:]}" for p in self.logdir.glob("*.log"))


@pytest.fixture
def processes(s3_server: S3Server, transactional_db, tmp_path: Path) -> Iterator[Processes]:
    purge_broker()
    procs = Processes(s3_server, tmp_path)
    yield procs
    procs.stop_all()
    print(procs.logs())  # pytest shows it only when the test failed


# ---------------------------------------------------------------------------
# Test images


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Processors a test defines inside itself are forgotten when it ends."""
    from backend.processors import registry

    before = dict(registry._classes)
    yield
    registry._classes.clear()
    registry._classes.update(before)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record what would be published to the broker instead of publishing it (in-process tests)."""
    from backend.batches import dispatch

    sent: dict[str, list] = {"files": [], "archives": [], "queues": [], "webhooks": [], "priorities": []}

    def files_publish(files, countdown=None):
        files = list(files)
        sent["files"].extend(str(f.pk) for f in files)
        sent["queues"].extend((str(f.pk), f.queue) for f in files)
        sent["priorities"].extend(dispatch.file_priority(f.position) for f in files)
        return len(files)

    monkeypatch.setattr(dispatch, "files_publish", files_publish)
    monkeypatch.setattr(dispatch, "archive_publish", lambda batch_id: sent["archives"].append(str(batch_id)) or True)
    monkeypatch.setattr(dispatch, "webhook_publish",
                        lambda batch_id, event: sent["webhooks"].append((str(batch_id), event)) or True)
    return sent


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback server that records callbacks."""
    server = Receiver()
    yield server
    server.server.shutdown()


# ---------------------------------------------------------------------------
# Uploads in parts, on each storage backend

@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def where(request, settings) -> str:
    settings.UPLOAD_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part: a 12 MB file in three
    return request.param


@pytest.fixture
def wav(tmp_path) -> bytes:
    from tests.support import media

    return media.audio(tmp_path / "talk.wav", seconds=70).read_bytes()  # about 12 MB
