"""Processors that break on purpose, for the fault tests.

Workers load it with PROCESSOR_MODULES=tests.support.crashing_processor; the test process imports it.
An image 333 pixels wide kills the worker process outright (as a crash in a native
decoder would); one 334 pixels wide makes the processor raise.
"""

from __future__ import annotations

import os

from PIL import Image

from backend.processors.watermark import TextWatermark

KILLS_ITS_PROCESS = 333
RAISES = 334


class CrashingWatermark(TextWatermark):
    name = "test_crashing_watermark"
    label = "Crashing watermark (tests)"
    order = 960

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        if image.width == KILLS_ITS_PROCESS:
            os._exit(139)  # no cleanup, no exception: the process is simply gone
        if image.width == RAISES:
            raise RuntimeError("a bug in the processor")
        return super().transform(image, options)
