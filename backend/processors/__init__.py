"""Processor registry. Import `registry` to find processors, `Processor` to write one."""

from .base import ProcessingError, Processor, registry

__all__ = ["ProcessingError", "Processor", "registry"]
