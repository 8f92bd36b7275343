"""Scaling out: workers on two "hosts" share one batch, and a worker stopped with SIGTERM loses nothing."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backend.batches.models import Batch, BatchFile
from tests.helpers import database_url, download_zip, encode, form_fields, noisy_image, wait_for_batch
from tests.support import slow_processor

pytestmark = pytest.mark.integration
SLOW = slow_processor.SlowWatermark.name


def submit(client: Client, count: int) -> tuple[str, dict[str, bytes]]:
    files = {f"photo-{i:02d}.jpg": encode(noisy_image((480, 320), seed=i), "JPEG") for i in range(count)}
    response = client.post("/", {**form_fields(SLOW, text="© Scale"),
                                 "files": [SimpleUploadedFile(n, c) for n, c in files.items()]})
    assert response.status_code == 302, response.content.decode()[:1500]
    return response["Location"].strip("/").split("/")[-1], files


def files_in_log(log: str, batch_id: str) -> set[str]:
    return {file_id for file_id in BatchFile.objects.filter(batch_id=batch_id).values_list("pk", flat=True)
            if f"file {file_id} of batch" in log} if log else set()


def assert_complete(client: Client, batch_id: str, files: dict[str, bytes]) -> None:
    batch = wait_for_batch(batch_id, timeout=180)
    assert (batch.status, batch.done_count, batch.failed_count) == (Batch.Status.READY, len(files), 0)
    archive = download_zip(client, batch_id)
    assert sorted(archive.namelist()) == sorted(files), "every file exactly once"


# ---------------------------------------------------------------------------
# Graceful shutdown


def test_a_worker_stopped_with_sigterm_mid_batch_loses_nothing(processes):
    env = {"PROCESSOR_MODULES": "tests.support.slow_processor", "WORKER_QUEUES": "images,default"}
    leaving = processes.start("worker", "--concurrency", "1", WORKER_HOSTNAME="leaving@test", **env)
    staying = processes.start("worker", "--concurrency", "1", WORKER_HOSTNAME="staying@test", **env)
    client = Client()
    batch_id, files = submit(client, 20)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if BatchFile.objects.filter(batch_id=batch_id, status=BatchFile.Status.DONE).count() >= 4:
            break
        time.sleep(0.2)
    leaving.send_signal(signal.SIGTERM)  # as `docker stop` does: to the main process only
    leaving.wait(timeout=60)  # warm shutdown: the running task finishes, the rest goes back to the broker
    log = processes.log_of(leaving)
    assert "Warm shutdown" in log or "warm shutdown" in log.lower(), log[-2000:]

    assert_complete(client, batch_id, files)
    assert staying.poll() is None
    assert set(BatchFile.objects.filter(batch_id=batch_id).values_list("attempts", flat=True)) == {1}, \
        "no file was started twice: the stopping worker finished what it had begun and handed back the rest"
    by_leaving, by_staying = files_in_log(log, batch_id), files_in_log(processes.log_of(staying), batch_id)
    assert by_leaving and by_staying and not by_leaving & by_staying
    assert len(by_leaving | by_staying) == len(files)


# ---------------------------------------------------------------------------
# Two hosts: two network namespaces reaching the services over their own links


class Forwarder:
    """A TCP relay from a non-loopback address to a service listening on loopback."""

    def __init__(self, listen_host: str, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server((listen_host, 0))
        self.address = (listen_host, self.server.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=20)


class Host:
    """A network namespace joined to this machine by a veth pair: its own addresses, no loopback services."""

    def __init__(self, index: int, tag: str) -> None:
        self.namespace = f"mc{tag}{index}"
        self.outside, self.inside = f"10.231.{index}.1", f"10.231.{index}.2"
        host_link, ns_link = f"mch{tag}{index}", f"mcn{tag}{index}"
        run("ip", "netns", "add", self.namespace)
        run("ip", "link", "add", host_link, "type", "veth", "peer", "name", ns_link)
        run("ip", "link", "set", ns_link, "netns", self.namespace)
        run("ip", "addr", "add", f"{self.outside}/30", "dev", host_link)
        run("ip", "link", "set", host_link, "up")
        self.exec = ["ip", "netns", "exec", self.namespace]
        run(*self.exec, "ip", "addr", "add", f"{self.inside}/30", "dev", ns_link)
        run(*self.exec, "ip", "link", "set", ns_link, "up")
        run(*self.exec, "ip", "link", "set", "lo", "up")
        self.forwarders: list[Forwarder] = []

    def reach(self, url: str) -> str:
        """The URL rewritten to reach a loopback service from inside this host."""
        parts = urlsplit(url)
        if parts.hostname not in {"127.0.0.1", "localhost"}:
            return url
        forwarder = Forwarder(self.outside, parts.port or {"postgres": 5432, "redis": 6379}[parts.scheme])
        self.forwarders.append(forwarder)
        auth = parts.netloc.rpartition("@")[0]
        netloc = (auth + "@" if auth else "") + f"{forwarder.address[0]}:{forwarder.address[1]}"
        return urlunsplit(parts._replace(netloc=netloc))

    def remove(self) -> None:
        for forwarder in self.forwarders:
            forwarder.close()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, timeout=20)


@pytest.fixture
def two_hosts() -> Iterator[list[Host] | None]:
    tag = uuid.uuid4().hex[:4]
    hosts: list[Host] = []
    try:
        for index in (1, 2):
            hosts.append(Host(index, tag))
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError) as exc:
        for host in hosts:
            host.remove()
        print(f"network namespaces are not available here ({exc}); falling back to two workers on loopback")
        yield None
        return
    yield hosts
    for host in hosts:
        host.remove()


def test_two_worker_hosts_share_a_batch(processes, two_hosts, s3_server):
    env = {"PROCESSOR_MODULES": "tests.support.slow_processor", "WORKER_QUEUES": "images,default"}
    workers = []
    for index in (1, 2):
        if two_hosts is None:
            workers.append(processes.start("worker", "--concurrency", "1", WORKER_HOSTNAME=f"host{index}@test", **env))
            continue
        host = two_hosts[index - 1]
        remote = {"DATABASE_URL": host.reach(database_url()),
                  "CELERY_BROKER_URL": host.reach(settings.CELERY_BROKER_URL),
                  "S3_ENDPOINT_URL": host.reach(s3_server.endpoint)}
        assert all("127.0.0.1" not in value for value in remote.values() if "://" in value and "sqlite" not in value)
        workers.append(processes.start_with(host.exec, "worker", "--concurrency", "1",
                                            WORKER_HOSTNAME=f"host{index}@test", **env, **remote))
    client = Client()
    batch_id, files = submit(client, 24)
    assert_complete(client, batch_id, files)

    per_host = [files_in_log(processes.log_of(worker), batch_id) for worker in workers]
    assert all(per_host), f"each host processed files: {[len(p) for p in per_host]}"
    assert not per_host[0] & per_host[1] and len(per_host[0] | per_host[1]) == len(files)
    if two_hosts is not None:
        for host in two_hosts:
            assert any(f.connections for f in host.forwarders), f"{host.namespace} reached the services over its link"
