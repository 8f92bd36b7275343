"""Chains of steps: the one validator of what a batch will do, and the presets people pick.

A step is {"processor": name, "options": {...}}. Every way in (the upload page, the
API, presets in settings and in the admin) is checked here: processor names, options
through each processor's own form, and whether each step can take what the step
before it makes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from backend.processors import Processor, registry

from .uploads import describe, kind_of

MAX_STEPS = 5
KINDS = ("image", "video", "audio")


@dataclass(frozen=True)
class StepProblem:
    """One thing wrong with a chain. `step` is the index of the step (None: the chain as a whole);
    `field` is "processor", "options" or "options.<name>" (empty: the step as a whole)."""

    step: int | None
    field: str
    message: str


class InvalidSteps(Exception):
    def __init__(self, problems: list[StepProblem], labels: Mapping[int, str] | None = None) -> None:
        super().__init__(problems)
        self.problems = problems
        self.labels = dict(labels or {})

    def sentences(self) -> list[str]:
        """Each problem as a sentence naming its step and option, for a list of errors."""
        sentences = []
        for problem in self.problems:
            if problem.step is None:
                sentences.append(problem.message)
                continue
            label = self.labels.get(problem.step)
            where = _("Step %(number)s") % {"number": problem.step + 1} + (f" ({label})" if label else "")
            option = problem.field.removeprefix("options.") if problem.field.startswith("options.") else ""
            sentences.append(f"{where}: {option + ': ' if option else ''}{problem.message}")
        return sentences


def kinds_text(kinds: set[str] | Sequence[str]) -> str:
    # Results that are no single file (an HLS folder) are named too, never "nothing".
    names = {"image": _("images"), "video": _("videos"), "audio": _("audio files"),
             "stream": _("an HLS stream folder")}
    words = [names[kind] for kind in names if kind in kinds]
    if len(words) <= 1:
        return words[0] if words else _("nothing")
    return _("%(some)s and %(last)s") % {"some": ", ".join(words[:-1]), "last": words[-1]}


def chain_kinds(chain: Sequence[type[Processor]]) -> set[str]:
    """The kinds of file every step of the chain can take, each step given what the one before made."""
    workable = set()
    for kind in KINDS:
        current = kind
        for processor in chain:
            if not processor.accepts_kind(current):
                break
            current = processor.output_kind(current)
        else:
            workable.add(kind)
    return workable


def _chain_problem(chain: Sequence[type[Processor]]) -> StepProblem | None:
    """The first step that cannot take what the steps before it make, for any kind step 1 takes."""
    if chain_kinds(chain):
        return None
    made = {chain[0].output_kind(kind) for kind in KINDS if chain[0].accepts_kind(kind)}
    for index, processor in enumerate(chain[1:], start=1):
        if not any(processor.accepts_kind(kind) for kind in made):
            return StepProblem(index, "processor", _(
                "“%(label)s” works on %(accepted)s, but step %(previous)s makes %(made)s, so it cannot follow it."
            ) % {"label": processor.label, "accepted": kinds_text({k for k in KINDS if processor.accepts_kind(k)}),
                 "previous": index, "made": kinds_text(made)})
        made = {processor.output_kind(kind) for kind in made if processor.accepts_kind(kind)}
    return None  # unreachable: an empty chain_kinds means some step took none of what it was given


# Steps and options arrive as JSON text (the API, the admin's presets): bounded before parsing,
# since a bomb of brackets makes the parser recurse until it fails.
MAX_JSON_DEPTH = 20
MAX_JSON_CHARS = 100_000


def json_text_problem(text: str) -> str | None:
    """Why a JSON text of steps or options is refused before parsing, or None."""
    if len(text) > MAX_JSON_CHARS:
        return f"Too large: at most {MAX_JSON_CHARS:,} characters."
    depth = deepest = 0
    for char in text:  # brackets inside strings count too: an upper bound is enough
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return f"Too deeply nested: at most {MAX_JSON_DEPTH} levels." if deepest > MAX_JSON_DEPTH else None


def steps_clean(raw_steps: object, files: Sequence[Mapping[str, UploadedFile]] | None = None) -> list[dict]:
    """Validate a chain; return it with every option cleaned by its processor's form.

    Options left out take their defaults, as in the form. `files[i]` holds step i's
    option files (e.g. a watermark's logo). Raises InvalidSteps naming each problem.
    """
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InvalidSteps([StepProblem(None, "", _("Give at least one processing step."))])
    if len(raw_steps) > MAX_STEPS:
        raise InvalidSteps([StepProblem(None, "", _("At most %(limit)s steps can be chained.") % {"limit": MAX_STEPS})])
    problems: list[StepProblem] = []
    cleaned: list[dict] = []
    chain: list[type[Processor]] = []
    labels: dict[int, str] = {}
    for index, step in enumerate(raw_steps):
        name = step.get("processor") if isinstance(step, dict) else None
        if not isinstance(step, dict) or not isinstance(name, str):
            problems.append(StepProblem(index, "", _('Each step is {"processor": name, "options": {…}}.')))
            continue
        processor = registry.get(name)
        if processor is None:
            problems.append(StepProblem(index, "processor",
                                        _("“%(name)s” is not an available processing type.") % {"name": name[:100]}))
            continue
        labels[index] = str(processor.label)
        chain.append(processor)
        options = step.get("options")
        options = {} if options is None else options
        if not isinstance(options, dict):
            problems.append(StepProblem(index, "options", _("Options must be an object.")))
            continue
        option_problems = [
            StepProblem(index, f"options.{key}", _("No such option.") if key not in processor.Options.base_fields
                        else _("Must be a single value."))
            for key, value in options.items()
            if key not in processor.Options.base_fields or isinstance(value, (dict, list))
        ]
        if option_problems:
            problems.extend(option_problems)
            continue
        step_files = files[index] if files and index < len(files) else {}
        form = processor.options_form(data={**processor.default_options(), **options}, files=step_files)
        if not form.is_valid():
            for field, messages in form.errors.items():
                where = "options" if field == "__all__" else f"options.{field}"
                problems.extend(StepProblem(index, where, str(message)) for message in messages)
            continue
        cleaned.append({"processor": processor.name, "options": form.cleaned_data})
    if not problems and (problem := _chain_problem(chain)):
        problems.append(problem)
    if problems:
        raise InvalidSteps(problems, labels)
    return cleaned


def steps_refusal(processor_names: Sequence[str]) -> Callable[[str], str | None]:
    """For an upload's files: why the chain cannot take a file of a content type (None: it can)."""
    chain = [cls for name in processor_names if (cls := registry.get(name)) is not None]
    workable = chain_kinds(chain) if chain else set()

    def refusal(content_type: str) -> str | None:
        if not chain:
            return None  # the steps' own errors say what is wrong
        first = chain[0]
        if not first.accepts_type(content_type):
            return _("%(processor)s accepts %(accepted)s") % {
                "processor": first.label, "accepted": accepted_description(first)}
        if kind_of(content_type) not in workable:
            return _("these steps together accept %(accepted)s") % {"accepted": kinds_text(workable)}
        return None

    return refusal


def accepted_description(processor: type[Processor]) -> str:
    """What a processor accepts, in words: "videos and audio files", "JPEG, PNG, … and BMP"."""
    families = {"image/*": _("images"), "video/*": _("videos"), "audio/*": _("audio files")}
    names = [str(families.get(pattern) or describe(pattern)) for pattern in processor.accepts]
    if len(names) == 1:
        return names[0]
    return _("%(some)s and %(last)s") % {"some": ", ".join(names[:-1]), "last": names[-1]}


def heaviest_queue(queues: Sequence[str]) -> str:
    """Heavy work wins: work of which any part is media work runs on the media queue."""
    return "media" if "media" in queues else (queues[0] if queues else "images")


def steps_queue(steps: list[dict], content_type: str) -> str:
    """The queue a file of `content_type` runs on through these steps."""
    return heaviest_queue([cls.queue_for(content_type) for step in steps
                           if (cls := registry.get(step["processor"])) is not None])


@dataclass(frozen=True)
class PresetChoice:
    key: str
    label: str
    steps: list[dict]


def presets_list() -> list[PresetChoice]:
    """Presets from settings, then the ones administrators defined in the admin."""
    from .models import Preset

    choices = [PresetChoice(key, value["label"], value["steps"]) for key, value in settings.PIPELINE_PRESETS.items()]
    choices += [PresetChoice(f"db-{p.pk}", p.label, p.steps) for p in Preset.objects.filter(enabled=True)]
    return choices


def preset_get(key: str) -> PresetChoice | None:
    return next((choice for choice in presets_list() if choice.key == key), None)
