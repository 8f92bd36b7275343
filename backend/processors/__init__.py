"""Processor registry. Import `registry` to find processors, `Processor` to write one."""

from .base import ProcessingError, Processor, Progress, Stopped, registry

__all__ = ["ProcessingError", "Processor", "Progress", "Stopped", "registry"]
