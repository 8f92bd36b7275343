"""What a user's program does against a running stack: post a batch, follow it, fetch the ZIP."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import requests

from tests.support.images import phone_jpeg, photo, save

# Real photographs (scikit-image's), as phones and cameras write them.
PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")


def ten_photographs() -> dict[str, bytes]:
    files = {}
    for name in PHOTOS:
        files[f"{name}-phone.jpg"] = phone_jpeg(name, orientation=6) if name != "camera" else save(
            photo(name), "JPEG", quality=92)
        files[f"{name}.png"] = save(photo(name), "PNG")
    return files


def large_photographs(count: int) -> dict[str, bytes]:
    """12-megapixel photographs: each takes the worker a noticeable moment."""
    big = photo("astronaut").resize((4000, 3000))
    return {f"large-{n:02d}.jpg": save(big.rotate(n), "JPEG", quality=90) for n in range(count)}


def get_page(url: str, **kwargs: object) -> requests.Response:
    """GET as a browser would, once more after a 502/503/504 or no answer within 30 s: Podman's DNS sometimes
    fails to name a container for a moment (the web then answers 503 once it gives up on the database),
    which is the stack's weather, not the site's behaviour; a third failure is the answer."""
    for attempt in range(3):
        try:
            response = requests.get(url, timeout=30, **kwargs)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            if attempt == 2:
                raise
            time.sleep(3)
            continue
        if response.status_code not in (502, 503, 504) or attempt == 2:
            return response
        time.sleep(3)
    raise AssertionError("unreachable")


def post_batch(base_url: str, files: dict[str, bytes], steps: list[dict], verify: str | bool = True) -> dict:
    """As the API asks of a client: a 503 (a database or storage out of reach for a moment; nothing was
    kept) is sent again after its Retry-After, a few times."""
    for _attempt in range(5):
        response = requests.post(f"{base_url}/api/v1/batches", data={"steps": json.dumps(steps)},
                                 files=[("files", (name, content)) for name, content in files.items()],
                                 timeout=300, verify=verify)
        if response.status_code != 503:
            break
        time.sleep(min(10, int(response.headers.get("Retry-After") or 2)))
    assert response.status_code == 201, answer_summary(response)
    return response.json()


def answer_summary(response: requests.Response) -> str:
    """The status and the error of an answer; from Django's debug page, only its exception."""
    found = re.search(r'<pre class="exception_value">(.*?)</pre>', response.text, re.DOTALL)
    return f"{response.status_code}: {found.group(1) if found else response.text[:1000]}"


def follow(status_url: str, timeout: float = 300, verify: str | bool = True) -> dict:
    """The batch's API answer once it has ended."""
    deadline = time.monotonic() + timeout
    state: dict = {}
    while True:
        answer = get_page(status_url, verify=verify)
        if answer.status_code == 200:  # a 503 while the database is out of reach: ask again
            state = answer.json()
            if state["status"] in ("ready", "failed", "cancelled", "expired"):
                return state
        if time.monotonic() > deadline:
            raise AssertionError(f"batch still {state.get('status')} after {timeout} s: {state.get('files')}")
        time.sleep(1)


def fetch_zip(download_url: str, verify: str | bool = True) -> tuple[zipfile.ZipFile, str]:
    """The archive through the download link: a redirect to a presigned URL that nginx passes to S3."""
    response = requests.get(download_url, timeout=120, verify=verify)
    assert response.status_code == 200, response.text[:500]
    assert response.history and response.history[0].status_code == 302, "the link redirects to storage"
    return zipfile.ZipFile(io.BytesIO(response.content)), response.url


def extract(archive: zipfile.ZipFile, name: str, folder: Path) -> Path:
    target = folder / Path(name).name
    target.write_bytes(archive.read(name))
    return target
