"""The raw floor: the processor alone, in one plain Python process: no Django app, Celery or storage.

    python -m bench.raw <image> <count> <processor>   prints {"seconds_per_image": …} as JSON
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    source, count, name = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    from django.conf import settings

    # Only what the processor reads: the pixel limit. No apps, no database.
    settings.configure(MAX_IMAGE_PIXELS=100_000_000, USE_I18N=False)
    from backend.processors import transform, watermark

    processors = {"watermark_text": (watermark.TextWatermark, {
        "text": "© Bench", "size": 5, "color": "#ffffff", "opacity": 50, "position": "bottom-right", "margin": 3}),
        "resize": (transform.Resize, {"mode": "fit", "width": 1600, "height": 1600, "upscale": False})}
    cls, options = processors[name]
    processor = cls()
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(count):
            out = Path(tmp) / str(index)
            out.mkdir()
            started = time.perf_counter()
            processor.edit(source, out, options, lambda fraction: None)
            timings.append(time.perf_counter() - started)
    timings.sort()
    print(json.dumps({"seconds_per_image": sum(timings) / len(timings), "median": timings[len(timings) // 2]}))


if __name__ == "__main__":
    main()
