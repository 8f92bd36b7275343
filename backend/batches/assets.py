"""Option files (e.g. a watermark's logo): stored with the batch at intake, fetched by the worker.

In a batch's steps an option file is {"asset": storage key}; nothing else of the
upload is kept, and the key is made of the batch's prefix and the step only.
"""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import UploadedFile

from . import storage
from .uploads import EXTENSIONS, sniff


def assets_store(prefix: str, steps: list[dict]) -> list[dict]:
    """The steps with every uploaded option file stored under `prefix` and replaced by {"asset": key}."""
    stored = []
    for index, step in enumerate(steps):
        options = {}
        for name, value in step.get("options", {}).items():
            if isinstance(value, UploadedFile):
                key = f"{prefix}assets/step{index}-{name}{EXTENSIONS.get(sniff(value).content_type, '.bin')}"
                storage.save(key, value)
                value = {"asset": key}
            options[name] = value
        stored.append({**step, "options": options})
    return stored


def assets_fetch(options: dict, workdir: Path) -> dict:
    """The options with every stored asset replaced by the path of a local copy (fetched once per file)."""
    resolved = {}
    for name, value in options.items():
        if isinstance(value, dict) and "asset" in value:
            local = workdir / "assets" / value["asset"].rsplit("/", 1)[-1]
            if not local.exists():
                local.parent.mkdir(exist_ok=True)
                storage.download(value["asset"], local)
            value = str(local)
        resolved[name] = value
    return resolved
