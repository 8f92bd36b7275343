"""Upload bodies spooled to disk by a web process killed mid-upload do not pile up: each web process
clears what is older than any request can last, when it starts and once a minute while it serves."""

import os
import signal
import socket
import time

import pytest
import requests

from backend.web.tempfiles import temp_uploads_clean


def test_only_files_older_than_any_request_are_removed(tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.WEB_TEMP_MAX_AGE_SECONDS = 3600
    old, fresh = tmp_path / "tmpold.upload.jpg", tmp_path / "tmpnew.upload.jpg"
    old.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "folder").mkdir()
    assert temp_uploads_clean() == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", fresh.name]


@pytest.mark.integration
def test_a_web_process_killed_mid_upload_leaves_nothing_once_a_web_starts_again(processes, tmp_path):
    spool = tmp_path / "spool"
    env = {"FILE_UPLOAD_TEMP_DIR": str(spool), "WEB_TEMP_MAX_AGE_SECONDS": "0"}
    web = processes.start_web(**env)
    host, port = web.removeprefix("http://").split(":")
    body = b"--cut\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n\r\n"
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n"
                     b"Content-Type: multipart/form-data; boundary=cut\r\n\r\n" + body + b"\xff" * 8_000_000)
        deadline = time.monotonic() + 20
        while not [p for p in spool.iterdir() if p.stat().st_size > 2_000_000]:
            assert time.monotonic() < deadline, "the upload never spooled"
            time.sleep(0.1)
        processes.stop(processes.running[-1], signal.SIGKILL)  # gunicorn and its workers, mid-request
    left = list(spool.iterdir())
    assert left, "a killed process leaves its spooled upload"
    again = processes.start_web(**env)
    assert requests.get(f"{again}/healthz", timeout=30).status_code == 200  # a worker of it has started
    assert list(spool.iterdir()) == [], "the next web process cleared it at start"
