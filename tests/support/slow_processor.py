"""A text watermark that takes its time, so tests can act while a batch is half done.

Workers load it with PROCESSOR_MODULES=tests.support.slow_processor; the test process imports it.
"""

from __future__ import annotations

import time

from PIL import Image

from backend.processors.watermark import TextWatermark

SECONDS_PER_IMAGE = 0.6


class SlowWatermark(TextWatermark):
    name = "test_slow_watermark"
    label = "Slow watermark (tests)"
    order = 950

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        time.sleep(SECONDS_PER_IMAGE)
        return super().transform(image, options)
