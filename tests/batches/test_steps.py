"""The one validator of chains: names, options through each processor's form, and coherence."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.batches.steps import (
    MAX_STEPS,
    InvalidSteps,
    StepProblem,
    chain_kinds,
    steps_clean,
    steps_queue,
    steps_refusal,
)
from backend.processors import registry
from tests.helpers import encode, noisy_image


def problems_of(raw, files=None) -> list[StepProblem]:
    with pytest.raises(InvalidSteps) as caught:
        steps_clean(raw, files)
    return caught.value.problems


@pytest.mark.parametrize(("raw", "sentence"), [
    ("resize", "Give at least one processing step."),
    ([], "Give at least one processing step."),
    ([{"processor": "cleanup"}] * (MAX_STEPS + 1), f"At most {MAX_STEPS} steps can be chained."),
    ([{"processor": "cleanup", "options": "x"}], "Step 1 (Clean up metadata): Options must be an object."),
    ([{"processor": "cleanup"}, {"processor": "colour", "options": {"operation": "neon"}}],
     "Step 2 (Colour): operation: Select a valid choice."),
    ([{"processor": "thumbnail", "options": {"size": "big"}}], "Step 1 (Thumbnail): size: Enter a whole number."),
    ([{"processor": "resize", "options": {"colour": 1}}], "Step 1 (Resize): colour: No such option."),
    ([{"processor": "resize", "options": {"width": [1]}}], "Step 1 (Resize): width: Must be a single value."),
    ([{"processor": "nope"}], "Step 1: “nope” is not an available processing type."),
])
def test_each_problem_is_named_with_its_step_and_option(raw, sentence):
    with pytest.raises(InvalidSteps) as caught:
        steps_clean(raw)
    assert any(sentence in text for text in caught.value.sentences()), caught.value.sentences()


def test_problems_carry_their_step_and_field_apart_from_the_words():
    problems = problems_of([{"processor": "cleanup"}, {"processor": "resize", "options": {"width": "wide"}},
                            {"options": {}}])
    assert [(p.step, p.field) for p in problems] == [(1, "options.width"), (2, "")]


def test_left_out_options_take_their_defaults_and_values_are_cleaned():
    (step,) = steps_clean([{"processor": "convert", "options": {"format": "WEBP", "quality": "70"}}])
    assert step["processor"] == "convert" and step["options"]["quality"] == 70
    assert step["options"]["lossless"] is False, "a left-out option is written out with its default"


def test_option_files_are_validated_by_the_processors_own_form():
    logo = SimpleUploadedFile("logo.png", encode(noisy_image((40, 20), "RGBA"), "PNG"))
    (step,) = steps_clean([{"processor": "watermark_image", "options": {}}], [{"logo": logo}])
    assert step["options"]["logo"] is logo
    assert [p.field for p in problems_of([{"processor": "watermark_image"}])] == ["options.logo"]
    not_an_image = SimpleUploadedFile("logo.png", b"plain text")
    assert [p.field for p in problems_of([{"processor": "watermark_image"}], [{"logo": not_an_image}])] == [
        "options.logo"]


# ---------------------------------------------------------------------------
# Coherence: each step must take what the step before it makes


def chain(*names: str) -> list:
    return [registry.get(name) for name in names]


@pytest.fixture
def media():
    if registry.get("video_mp4") is None:
        pytest.skip("ffmpeg is not installed")


def test_kinds_each_chain_can_take(media):
    assert chain_kinds(chain("resize", "convert")) == {"image"}
    assert chain_kinds(chain("web_ready")) == {"image", "video", "audio"}
    assert chain_kinds(chain("web_ready", "resize")) == {"image"}
    assert chain_kinds(chain("video_thumbnail", "watermark_text")) == {"video"}, "a video's frame is an image"
    assert chain_kinds(chain("audio_mp3", "audio_m4a")) == {"video", "audio"}
    assert chain_kinds(chain("video_mp4", "resize")) == set()
    assert chain_kinds(chain("audio_mp3", "video_mp4")) == set()


@pytest.mark.parametrize(("names", "step", "words"), [
    (["video_mp4", "resize"], 1, "“Resize” works on images, but step 1 makes videos"),
    (["resize", "video_webm"], 1, "works on videos, but step 1 makes images"),
    (["cleanup", "colour", "audio_mp3"], 2, "but step 2 makes images"),
])
def test_a_step_that_cannot_take_what_the_one_before_makes_is_refused(media, names, step, words):
    problems = problems_of([{"processor": name} for name in names])
    assert [(p.step, p.field) for p in problems] == [(step, "processor")]
    assert words in problems[0].message, problems[0].message


def test_coherent_chains_pass(media):
    for names in (["resize", "watermark_text", "convert"], ["video_thumbnail", "resize"], ["web_ready", "resize"],
                  ["video_mp4", "video_watermark_text"], ["audio_mp3"]):
        assert [step["processor"] for step in steps_clean([{"processor": n} for n in names])] == names


def test_each_file_is_checked_against_the_whole_chain(media):
    refusal = steps_refusal(["web_ready", "resize"])
    assert refusal("image/jpeg") is None
    assert "together accept images" in refusal("video/mp4")
    assert "accepts" in steps_refusal(["resize"])("video/mp4")
    assert steps_refusal(["video_mp4"])("video/webm") is None


def test_media_work_anywhere_in_the_chain_sends_the_file_to_the_media_queue(media):
    assert steps_queue([{"processor": "resize"}], "image/png") == "images"
    assert steps_queue([{"processor": "video_thumbnail"}, {"processor": "resize"}], "video/mp4") == "media"
    assert steps_queue([{"processor": "web_ready"}], "image/png") == "images"
    assert steps_queue([{"processor": "web_ready"}], "audio/mpeg") == "media"


def test_a_step_after_hls_is_refused_naming_what_hls_makes():
    if registry.get("video_hls") is None:
        pytest.skip("ffmpeg is not installed")
    (problem,) = problems_of([{"processor": "video_hls"}, {"processor": "video_mp4"}])
    assert problem.step == 1 and "step 1 makes an HLS stream folder, so it cannot follow it" in problem.message
