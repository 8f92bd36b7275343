import importlib

from django.apps import AppConfig
from django.conf import settings

# Modules whose processors ship with the service; settings.PROCESSOR_MODULES adds more.
BUILTIN_MODULES = (
    "backend.processors.watermark",
    "backend.processors.transform",
    "backend.processors.media",
    "backend.processors.animation",
    "backend.processors.cut",
    "backend.processors.loudness",
    "backend.processors.hls",
    "backend.processors.auto",
)


class ProcessorsConfig(AppConfig):
    name = "backend.processors"
    label = "processors"

    def ready(self) -> None:
        from PIL import Image

        # Pillow's guard against decompression bombs, set explicitly rather than left to its default.
        Image.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
        for module in (*BUILTIN_MODULES, *settings.PROCESSOR_MODULES):
            importlib.import_module(module)
