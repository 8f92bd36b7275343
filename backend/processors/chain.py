"""Running a chain of steps on one file: the engine, apart from the operations.

Consecutive image steps share one decode and one encode (`run_image_chain`); any
other step runs alone on every output of the step before.
"""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext_noop

from .base import ProcessingError, Processor, Progress, registry
from .imaging import ImageProcessor, run_image_chain


def group_steps(steps: list[dict]) -> list[list[tuple[Processor, dict]]]:
    """Group the steps: consecutive image steps share one decode and one encode."""
    groups: list[list[tuple[Processor, dict]]] = []
    previous_chainable = False
    for step in steps:
        processor_cls = registry.get(step["processor"])
        if processor_cls is None:
            raise ProcessingError(gettext_noop("needs “%(processor)s”, which is not available on this server"),
                                  processor=step["processor"])
        # An image step that overrides edit() does its own decoding, so it runs alone.
        chainable = issubclass(processor_cls, ImageProcessor) and processor_cls.edit is ImageProcessor.edit
        if chainable and previous_chainable:
            groups[-1].append((processor_cls(), step.get("options", {})))
        else:
            groups.append([(processor_cls(), step.get("options", {}))])
        previous_chainable = chainable
    return groups


def run_steps(steps: list[dict], source: Path, workdir: Path, progress: Progress) -> list[Path]:
    """Apply each group of steps to every output of the one before; returns the final outputs."""
    groups = group_steps(steps)
    inputs = [source]
    for index, group in enumerate(groups):
        target_dir = workdir / f"step{index}"
        target_dir.mkdir()

        def group_progress(fraction: float, _i: int = index) -> None:
            progress((_i + fraction) / len(groups))

        outputs: list[Path] = []
        for item in inputs:
            if len(group) > 1 or isinstance(group[0][0], ImageProcessor):
                produced = run_image_chain(group, item, target_dir, group_progress)
            else:
                processor, options = group[0]
                produced = processor.edit(item, target_dir, options, group_progress)
            if not produced:
                raise ProcessingError(gettext_noop("produced no output in step %(step)s"), step=index + 1)
            outputs.extend(produced)
        inputs = outputs
    return inputs
