"""Send a large file to the service in parts, straight to storage, and start a batch with it.

    python upload_in_parts.py https://convert.example.org interview.wav media_trim '{"duration": 30}'

Needs only `requests`. Parts go up four at a time; run it again after a broken connection with the
upload id it printed (UPLOAD_ID=…) and it sends only the parts storage does not hold yet.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests


def upload_in_parts(site: str, path: Path, upload_id: str = "", parallel: int = 4,
                    session: requests.Session | None = None) -> str:
    """Send `path`; returns the id of the completed upload."""
    http = session or requests.Session()
    api = site.rstrip("/") + "/api/v1/uploads"
    if upload_id:  # resuming: ask which parts storage already holds
        upload = http.get(f"{api}/{upload_id}", timeout=60).json()
    else:
        upload = http.post(api, json={"name": path.name, "size": path.stat().st_size}, timeout=60)
        upload.raise_for_status()
        upload = upload.json()
        print(f"UPLOAD_ID={upload['id']}", file=sys.stderr)
    stored = {part["number"] for part in upload["parts"]}
    wanted = [n for n in range(1, upload["part_count"] + 1) if n not in stored]
    urls: dict[str, str] = {}
    for start in range(0, len(wanted), 1000):  # at most 1,000 URLs per request
        answer = http.post(upload["parts_url"], json={"parts": wanted[start:start + 1000]}, timeout=60)
        answer.raise_for_status()
        urls.update(answer.json()["urls"])

    def send(number: int) -> None:
        with open(path, "rb") as file:
            file.seek((number - 1) * upload["part_size"])
            data = file.read(upload["part_size"])
        for attempt in range(5):
            try:
                if requests.put(urls[str(number)], data=data, timeout=300).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(2**attempt)
        raise RuntimeError(f"part {number} could not be sent; run again with UPLOAD_ID to resume")

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(send, wanted))
    done = http.post(upload["complete_url"], timeout=600)
    if done.status_code != 200:
        raise RuntimeError(done.json()["error"])
    return upload["id"]


def main() -> None:
    site, name, processor, options = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    upload_id = upload_in_parts(site, name, os.environ.get("UPLOAD_ID", ""))
    batch = requests.post(site.rstrip("/") + "/api/v1/batches", timeout=60,
                          data={"uploads": upload_id, "processor": processor, "options": options})
    if batch.status_code != 201:
        raise SystemExit(json.dumps(batch.json(), indent=2))
    print(batch.json()["page_url"])


if __name__ == "__main__":
    main()
