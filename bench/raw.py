"""The processors alone, each against the codec: one plain Python process, no Django app, Celery or storage.

    python -m bench.raw <image> <count> [case …]   prints {case: {...}} as JSON

For each case: the processor's `edit` (seconds and CPU seconds per image, the median of `count`
runs), and its floor: the same file decoded (at the reduced size the JPEG decoder allows for
the result, as the processor may) and the result's pixels encoded with the same encoder
settings. The ratio is what the processor costs beyond the codec.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

WATERMARK = {"text": "© Bench", "size": 5, "color": "#ffffff", "opacity": 50, "position": "bottom-right",
             "margin": 3}
CASES: dict[str, tuple[str, dict]] = {
    "watermark_text": ("watermark_text", WATERMARK),
    "watermark_text_tiled": ("watermark_text", {**WATERMARK, "position": "tiled"}),
    "watermark_image": ("watermark_image", {"scale": 20, "opacity": 50, "position": "bottom-right", "margin": 3}),
    "watermark_image_tiled": ("watermark_image", {"scale": 10, "opacity": 50, "position": "tiled", "margin": 3}),
    "resize": ("resize", {"mode": "fit", "width": 1600, "height": 1600, "upscale": False}),
    "thumbnail": ("thumbnail", {"size": 256, "square": True}),
    "convert_webp": ("convert", {"format": "WEBP", "quality": 85, "lossless": False, "background": "#ffffff"}),
}


def measure(works: list[Callable[[], object]], count: int) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of `count` runs of each work, taken in turns so that a busy moment
    of the machine falls on all of them alike (after one warm-up run each: fonts, codecs, caches)."""
    for work in works:
        work()
    wall: list[list[float]] = [[] for _ in works]
    cpu: list[list[float]] = [[] for _ in works]
    for _ in range(count):
        for index, work in enumerate(works):
            started, started_cpu = time.perf_counter(), time.process_time()
            work()
            wall[index].append(time.perf_counter() - started)
            cpu[index].append(time.process_time() - started_cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


def codec_floor(source: Path, target: Path, processor, options: dict, result_size: tuple[int, int]) -> None:  # noqa: ANN001
    """Decode `source` as the processor's chain would (draft included), encode `result_size` pixels."""
    from PIL import Image

    from backend.processors import imaging

    with Image.open(source, formats=imaging.DECODERS) as image:
        encoding = imaging.Encoding(format=imaging.READ_ONLY_FORMATS.get(image.format, image.format))
        processor.adjust_encoding(encoding, options)
        imaging._apply_draft(image, [(processor, options)])
        image.load()
        frame = image if image.size == result_size else image.crop((0, 0, *result_size))
        frame.save(target, encoding.format, **imaging._save_arguments(image, encoding))


def main() -> None:
    source, count = Path(sys.argv[1]), int(sys.argv[2])
    names = sys.argv[3:] or list(CASES)
    from django.conf import settings

    # Only what the processors read. No apps, no database.
    settings.configure(MAX_IMAGE_PIXELS=100_000_000, MAX_ANIMATION_FRAMES=1000, MAX_ANIMATION_PIXELS=200_000_000,
                       USE_I18N=False)
    from PIL import Image

    from backend.processors import transform, watermark
    from tests.support.images import logo_png

    classes = {cls.name: cls for cls in (watermark.TextWatermark, watermark.ImageWatermark, transform.Resize,
                                         transform.Thumbnail, transform.ConvertFormat)}

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        logo = Path(tmp) / "logo.png"
        logo.write_bytes(logo_png())
        for name in names:
            processor_name, options = CASES[name]
            options = {**options, **({"logo": str(logo)} if processor_name == "watermark_image" else {})}
            processor = classes[processor_name]()
            out = Path(tmp) / name
            out.mkdir()
            (result,) = processor.edit(source, out, options, lambda fraction: None)
            with Image.open(result) as image:
                result_size = image.size
            (edit_wall, edit_cpu), (floor_wall, floor_cpu) = measure([
                lambda: processor.edit(source, out, options, lambda fraction: None),  # noqa: B023 - used at once
                lambda: codec_floor(source, out / "floor", processor, options, result_size),  # noqa: B023
            ], count)
            results[name] = {"seconds": edit_wall, "cpu_seconds": edit_cpu, "floor_seconds": floor_wall,
                             "floor_cpu_seconds": floor_cpu, "ratio": edit_cpu / floor_cpu}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
