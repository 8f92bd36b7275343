"""requirements.txt alone runs every process: a fresh virtualenv made from the lock (no dependency
resolution at all) starts web, a worker on a real Redis broker, beat and Flower, and processes a file."""

from __future__ import annotations

import re
import subprocess
import time
import venv
from pathlib import Path

import pytest
import requests

from tests.helpers import ROOT, download_zip_from, photo
from tests.support.redisserver import RedisServer
from tests.support.s3server import free_port

pytestmark = pytest.mark.integration
LOCK = ROOT / "requirements.txt"


def test_the_lock_pins_every_package_with_hashes():
    text = LOCK.read_text()
    pinned = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", text, re.MULTILINE)
    assert len(pinned) > 30, "the whole closure, not only the direct dependencies"
    assert "packaging" in pinned, "kombu's Redis transport needs it (it once came only with the dev tools)"
    entries = re.split(r"\n(?=[A-Za-z])", text[text.index(pinned[0]):])
    assert all("--hash=sha256:" in entry for entry in entries), "every package carries its hashes"
    for line in (ROOT / "requirements.in").read_text().splitlines():
        name = re.split(r"[\[~=<>]", line.strip())[0] if line.strip() and not line.startswith("#") else ""
        assert not name or name.lower() in {p.lower() for p in pinned}, f"{name} is in requirements.in, not locked"


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory) -> Path:
    """A virtualenv with requirements.txt installed exactly: --no-deps, so nothing the lock forgot is added."""
    home = tmp_path_factory.mktemp("runtime-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes",
                                "-r", str(LOCK)], capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, f"the lock misses a dependency:\n{check.stdout}"
    assert "pytest" not in subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True,
                                          text=True).stdout, "no dev tool leaks into the runtime"
    return python


def test_every_process_starts_from_the_lock_alone_and_a_file_is_processed(runtime_python, processes, tmp_path):
    if not RedisServer.available():
        pytest.skip("redis-server is not installed")
    redis = RedisServer(tmp_path)
    redis.start()
    env = processes.env(CELERY_BROKER_URL=redis.url, SWEEP_INTERVAL_SECONDS=2, DATA_DIR=tmp_path / "data",
                        LOG_FORMAT="plain")
    web_port, flower_port = free_port(), free_port()
    commands = {
        "web": [str(runtime_python), "-m", "gunicorn", "backend.config.wsgi", "--bind", f"127.0.0.1:{web_port}",
                "--no-control-socket"],
        "worker": [str(runtime_python), "-m", "workers", "worker", "--concurrency", "1"],
        "beat": [str(runtime_python), "-m", "workers", "beat"],
        "flower": [str(runtime_python), "-m", "celery", "-A", "backend.config", "flower", "--address=127.0.0.1",
                   f"--port={flower_port}"],
    }
    started = {}
    try:
        for name, command in commands.items():
            log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
            started[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        web = f"http://127.0.0.1:{web_port}"
        answer = wait_for(lambda: requests.post(f"{web}/api/v1/batches", data={"processor": "thumbnail"},
                                                files=[("files", ("a.jpg", photo(), "image/jpeg"))], timeout=10))
        assert answer.status_code == 201, answer.text[:1000]
        status_url = answer.json()["status_url"]
        deadline = time.monotonic() + 120
        while (state := requests.get(status_url, timeout=10).json())["status"] not in ("ready", "failed"):
            assert time.monotonic() < deadline, logs(tmp_path)
            time.sleep(0.5)
        assert state["status"] == "ready", logs(tmp_path)
        assert download_zip_from(state["download_url"]).namelist() == ["a.jpg"]
        assert wait_for(lambda: requests.get(f"http://127.0.0.1:{flower_port}/healthcheck", timeout=5).ok)
        worker_seen = "worker-images-media-default@"  # the node name `python -m workers` gives it
        wait_for(lambda: worker_seen in requests.get(f"http://127.0.0.1:{flower_port}/workers", timeout=5).text)
        wait_for(lambda: "Sending due task sweep batches" in (tmp_path / "beat.log").read_text() or None)
        assert all(process.poll() is None for process in started.values()), logs(tmp_path)
    finally:
        for process in started.values():
            process.terminate()
        for process in started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.stop()


def wait_for(attempt, timeout: float = 60):
    """Call `attempt` until it returns something truthy without raising a connection error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = attempt()
            if result:
                return result
        except (requests.ConnectionError, FileNotFoundError):
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def logs(folder: Path) -> str:
    return "\n".join(f"==> {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in folder.glob("*.log"))


