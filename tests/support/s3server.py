"""A real S3 server for tests and `make bench`: SeaweedFS's `weed server -s3` on loopback."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

S3_KEY, S3_SECRET, S3_BUCKET = "test-access", "test-secret", "mediaconv-test"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(pair_offset: int | None = None) -> int:
    """A free port (and port + pair_offset, when given) below the kernel's ephemeral range.

    A server restarted in a test must get its port back: in the ephemeral range, an
    outgoing connection may have taken it meanwhile.
    """
    for _ in range(500):
        port = random.randint(12000, 22000)
        if _port_free(port) and (pair_offset is None or _port_free(port + pair_offset)):
            return port
    raise RuntimeError("no free port")


def _free_port_pair() -> int:
    """A port p with p and p + 10000 free (SeaweedFS puts gRPC at +10000)."""
    return free_port(pair_offset=10000)


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed") or "weed"


class S3Server:
    """A SeaweedFS server with S3 on loopback; stop() and start() simulate an outage."""

    def __init__(self, workdir: Path, volumes: int = 20) -> None:
        self.workdir = workdir
        self.volumes = volumes  # of 256 MB each: the most it stores
        self.ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen | None = None
        config = {"identities": [{"name": "test", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        (workdir / "s3.json").write_text(json.dumps(config))

    def start(self) -> None:
        log = open(self.workdir / "weed.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [weed_binary(), "server", f"-dir={self.workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={self.ports['master']}", f"-volume.port={self.ports['volume']}",
             f"-filer.port={self.ports['filer']}", "-s3", f"-s3.port={self.ports['s3']}",
             f"-s3.config={self.workdir / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-volume.max={self.volumes}", "-master.volumeSizeLimitMB=256"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.wait_ready()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY,
                            aws_secret_access_key=S3_SECRET, region_name="us-east-1")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                client = self.client()
                if S3_BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
                    client.create_bucket(Bucket=S3_BUCKET)
                client.put_object(Bucket=S3_BUCKET, Key="ready-check", Body=b"ok")
                client.delete_object(Bucket=S3_BUCKET, Key="ready-check")
                return
            except Exception as exc:
                last = exc
                time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS did not become ready: {last}; see {self.workdir / 'weed.log'}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def env(self) -> dict[str, str]:
        return {"S3_BUCKET": S3_BUCKET, "S3_ENDPOINT_URL": self.endpoint, "S3_ACCESS_KEY_ID": S3_KEY,
                "S3_SECRET_ACCESS_KEY": S3_SECRET, "S3_REGION": "us-east-1"}

    def keys(self, prefix: str) -> list[str]:
        response = self.client().list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix)
        return [obj["Key"] for obj in response.get("Contents", [])]


