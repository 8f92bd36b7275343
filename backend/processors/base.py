"""The extension point: a processor turns one input file into one or more outputs.

A new processing type is one subclass of `Processor` with `edit` implemented.
Defining the class registers it; the upload form, the workers and the admin all
read the same registry, so nothing else changes for it to appear and run.
"""

from __future__ import annotations

import abc
import fnmatch
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from django import forms

Progress = Callable[[float], None]


class ProcessingError(Exception):
    """A file cannot be processed; the message is shown to the person, as the rest of a sentence
    that starts with the file's name ("could not be read: …").

    `message` may hold %(name)s placeholders filled from `params` (plain values). Mark it with
    gettext_noop: it is kept with its params and translated where it is shown (the page in Russian,
    a Russian errors.txt); str() is the English text.
    """

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.template = message
        self.params = params


def sentence(text: str) -> str:
    """A processor's message ("could not be read: …") as a sentence: capitalised, with a full stop."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


class Stopped(Exception):
    """Raised by `progress` when the file's work is no longer wanted (batch cancelled); stop at once."""


class NoOptions(forms.Form):
    """Options form for processors that take none."""


class Processor(abc.ABC):
    name: ClassVar[str]  # stable id stored with each batch, e.g. "watermark_text"
    label: ClassVar[str]  # shown in the form
    description: ClassVar[str] = ""
    queue: ClassVar[str] = "images"  # Celery queue its work goes to ("images" or "media")
    accepts: ClassVar[tuple[str, ...]] = ("image/*",)  # sniffed content types, globs allowed
    # The kind of file it makes ("image", "video" or "audio"); None: the kind it was given.
    # The next step of a chain must accept it, which is checked when the batch is submitted.
    produces: ClassVar[str | None] = None
    Options: ClassVar[type[forms.Form]] = NoOptions
    order: ClassVar[int] = 100  # position in the form's list

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls) and "name" in cls.__dict__:
            registry.register(cls)

    @abc.abstractmethod
    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        """Process `source`, write results into `target_dir`, return their paths.

        Raise ProcessingError with a message a person can read when the file
        cannot be processed. Call `progress` with a fraction from 0 to 1; it raises
        Stopped when the batch was cancelled, which must not be caught.
        """

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this processor cannot run on this installation, or None when it can."""
        return None

    @classmethod
    def queue_for(cls, content_type: str) -> str:
        """The queue a file of this type goes to (a processor handling both images and video may split)."""
        return cls.queue

    @classmethod
    def accepts_type(cls, content_type: str) -> bool:
        return any(fnmatch.fnmatch(content_type, pattern) for pattern in cls.accepts)

    @classmethod
    def accepts_kind(cls, kind: str) -> bool:
        """Whether it takes files of this kind ("image", "video", "audio") at all."""
        return any(pattern.split("/", 1)[0] == kind for pattern in cls.accepts)

    @classmethod
    def output_kind(cls, kind: str) -> str:
        """The kind of file it makes from a file of `kind`."""
        return cls.produces or kind

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Each option's initial value: what a preset or API call that leaves an option out gets."""
        return {name: field.initial for name, field in cls.Options.base_fields.items() if field.initial is not None}

    @classmethod
    def options_form(cls, data: dict | None = None, files: Any = None, prefix: str | None = None) -> forms.Form:
        return cls.Options(data=data, files=files, prefix=prefix)


class Registry:
    def __init__(self) -> None:
        self._classes: dict[str, type[Processor]] = {}

    def register(self, cls: type[Processor]) -> None:
        existing = self._classes.get(cls.name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"Two processors are named {cls.name!r}: {existing} and {cls}")
        self._classes[cls.name] = cls

    def unregister(self, name: str) -> None:
        self._classes.pop(name, None)

    def all(self) -> list[type[Processor]]:
        """Every registered processor, available or not (the admin shows why not)."""
        return sorted(self._classes.values(), key=lambda c: (c.order, c.label))

    def available(self) -> list[type[Processor]]:
        return [cls for cls in self.all() if cls.unavailable_reason() is None]

    def get(self, name: str) -> type[Processor] | None:
        cls = self._classes.get(name)
        return cls if cls is not None and cls.unavailable_reason() is None else None


registry = Registry()
