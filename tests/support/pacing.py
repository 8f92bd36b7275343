"""What the paced-progress tests share: a step that reports nothing for a while, a recent pace for its
chain to go by, and a worker thread processing the file.

Defining the step registers it: use these with the `scratch_registry` fixture.
"""

from __future__ import annotations

import threading
import time

from django.db import connection
from django.utils import timezone
from PIL import Image

from backend.batches import processing
from backend.batches.models import Batch, BatchFile
from backend.processors.imaging import ImageProcessor
from tests.helpers import batch_of, encode, noisy_image

PIXELS = 400 * 300


def silent_batch(seconds: float) -> Batch:
    """A one-image batch whose only step sleeps `seconds` without reporting progress, after an earlier
    file of the same chain and size took just as long (so the expected time is `seconds`)."""

    class SilentSlowStep(ImageProcessor):
        name = "test_silent_slow"
        label = "Silent and slow (tests)"

        def transform(self, image: Image.Image, options: dict) -> Image.Image:
            time.sleep(seconds)
            return image

    processing._chain_rates.clear()
    steps = [{"processor": SilentSlowStep.name, "options": {}}]
    earlier = batch_of({"before.jpg": encode(noisy_image((400, 300)), "JPEG")}, steps)
    BatchFile.objects.filter(batch=earlier).update(status="done", finished_at=timezone.now(),
                                                   timings={"process": float(seconds)}, pixels=PIXELS)
    return batch_of({"now.jpg": encode(noisy_image((400, 300)), "JPEG")}, steps)


def processing_thread(file_id: str) -> threading.Thread:
    """The file processed as a worker does, in a started thread."""

    def work() -> None:
        try:
            processing.file_process(file_id)
        finally:
            connection.close()  # this thread's own connection, or the test database stays in use

    thread = threading.Thread(target=work)
    thread.start()
    return thread
