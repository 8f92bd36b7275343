"""The waiting page as a list of what was made, the failed files unmistakable, and the upload page's
conveniences, in Chromium against a live server (files processed in this process)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from backend.batches import storage
from backend.batches.models import Batch
from backend.batches.steps import preset_get
from backend.batches.sweeper import batch_expire_now
from tests.helpers import encode, noisy_image, run_in_process
from tests.system.browsing import BATCH_URL, CHROMIUM, DESKTOP, PHONE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]


def photos(folder: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / f"photo {index + 1}.jpg"
        # The first is progressive, as cameras and sites often write them.
        path.write_bytes(encode(noisy_image((1600, 1200), seed=index + 1), "JPEG", quality=92,
                                progressive=index == 0))
        paths.append(path)
    return paths


def broken_jpeg(folder: Path) -> Path:
    """A JPEG cut off after its header: accepted at upload, the worker cannot decode it."""
    path = folder / "cut off.jpg"
    path.write_bytes(encode(noisy_image((800, 600)), "JPEG")[:3000])
    return path


def submit_resize(page, files: list[Path], width: int = 400) -> str:
    page.set_input_files("#id_files", [str(path) for path in files])
    page.select_option("#id_processor", "resize")
    page.fill("#id_resize-width", str(width))
    page.fill("#id_resize-height", str(width))
    page.click("#submit-button")
    page.wait_for_url(BATCH_URL)
    return page.url.rstrip("/").split("/")[-1]


def test_the_waiting_page_lists_what_was_made_and_marks_what_failed(open_page, tmp_path, shots):
    page = open_page()
    page.goto("/")
    batch_id = submit_resize(page, [*photos(tmp_path, 2), broken_jpeg(tmp_path)])
    run_in_process(batch_id)
    page.wait_for_selector("#download:not([hidden])", timeout=20_000)

    assert page.locator("h1").inner_text() == "Ready: 2 done, 1 failed", "the heading is the batch's state"
    assert page.locator("#chain").inner_text() == "Resize"
    assert "1 file could not be processed" in page.locator("#failed-some").inner_text()
    failed = page.locator("tr.state-failed")
    assert failed.count() == 1 and "cut off.jpg" in failed.inner_text()
    assert failed.locator("progress").is_hidden(), "no bar (full or empty) on a failed file"
    reason = failed.locator(".error").inner_text()
    assert reason.startswith("Could not be read: the image is damaged or incomplete") and "(" not in reason, reason
    assert failed.locator("td.state").evaluate("cell => getComputedStyle(cell).whiteSpace") == "nowrap"
    assert failed.locator(".error").evaluate("p => getComputedStyle(p).wordBreak") == "normal", "words stay whole"

    previews = page.locator("tr.state-done img.preview")
    assert previews.count() == 2 and failed.locator("img.preview").count() == 0
    page.wait_for_function("() => [...document.querySelectorAll('img.preview')].every(i => i.naturalWidth)")
    assert previews.first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [320, 240], "the result, small"
    done = page.locator("tr.state-done").first
    sizes = done.locator(".sizes").inner_text()
    assert re.fullmatch(r"[\d.]+ [KM]B → [\d.]+ KB \(−\d+%\)", sizes), sizes
    with page.expect_download() as download:
        done.get_by_role("link", name="Download photo 1.jpg").click()
    with Image.open(download.value.path()) as result:
        assert result.size == (400, 300), "that one result, resized"
        assert result.info.get("progressive"), "a progressive original stays progressive"
    batch = Batch.objects.get(pk=batch_id)
    previews_stored = [f.preview_key for f in batch.files.exclude(preview_key="")]
    assert len(previews_stored) == 2 and all(storage.exists(k) for k in previews_stored)
    shots(page, "batch-gallery-desktop")
    page.set_viewport_size(PHONE)
    shots(page, "batch-gallery-phone")
    page.set_viewport_size(DESKTOP)
    assert page.errors == []
    assert batch_expire_now(batch.pk)
    assert not any(storage.exists(k) for k in previews_stored), "previews go with the batch"


def test_a_batch_where_every_file_failed_offers_its_errors(open_page, tmp_path):
    page = open_page()
    page.goto("/")
    batch_id = submit_resize(page, [broken_jpeg(tmp_path)])
    assert run_in_process(batch_id).status == Batch.Status.FAILED
    page.wait_for_selector("#failed-all:not([hidden])", timeout=20_000)
    assert page.locator("h1").inner_text() == "Failed: the file could not be processed"
    assert page.locator("#failed-some").is_hidden() and page.locator("#download").is_hidden()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download errors.txt").click()
    report = Path(download.value.path()).read_text()
    assert report.startswith("1 of 1 file could not be processed") and "cut off.jpg" in report


def test_the_upload_page_in_the_page_language_with_only_the_fields_that_apply(open_page, tmp_path, shots):
    page = open_page(locale="ru-RU")
    page.goto("/")
    assert page.locator(".dropzone").inner_text().startswith("Выберите файлы"), "the zone speaks Russian"
    assert page.locator(".dropzone").bounding_box()["height"] >= 100, "a large target"
    page.set_input_files("#id_files", [str(path) for path in photos(tmp_path, 2)])
    assert "2" in page.locator("#drop-chosen").inner_text()
    page.select_option("#id_processor", "resize")
    assert page.locator("#id_resize-width").is_visible() and page.locator("#id_resize-percent").is_hidden()
    page.select_option("#id_resize-mode", "percent")
    assert page.locator("#id_resize-percent").is_visible() and page.locator("#id_resize-width").is_hidden()

    # A preset, then "+ Add a step": the chain starts from the preset's steps.
    page.select_option("#id_preset", index=1)
    preset = page.locator("#id_preset").input_value()
    assert page.locator("#add-step").is_visible()
    page.click("#add-step")
    assert page.locator("#id_preset").input_value() == ""
    chosen = [step.locator("select").first.input_value() for step in page.locator("fieldset.step:visible").all()]
    expected = [step["processor"] for step in preset_get(preset).steps]
    assert chosen == [*expected, chosen[-1]] and len(chosen) == len(expected) + 1, (chosen, expected)
    shots(page, "upload-chain-russian")
    assert page.errors == []


def test_a_dark_theme_follows_the_system(browser, live_server, transactional_db, tmp_path, shots):
    context = browser.new_context(color_scheme="dark", viewport=DESKTOP, base_url=live_server.url)
    page = context.new_page()
    page.goto("/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = map(int, re.findall(r"\d+", background)[:3])
    assert red + green + blue < 120, background
    page.set_input_files("#id_files", [str(path) for path in photos(tmp_path, 1)])
    page.select_option("#id_processor", "watermark_text")
    swatch = page.locator("input[type=color]").first
    assert swatch.evaluate("i => parseFloat(getComputedStyle(i).borderTopWidth)") >= 1, "white shows as white"
    shots(page, "upload-dark")
    page.close()
    page = context.new_page()
    page.goto("/")
    batch_id = submit_resize(page, [*photos(tmp_path, 2), broken_jpeg(tmp_path)])
    run_in_process(batch_id)
    page.wait_for_selector("#download:not([hidden])", timeout=20_000)
    shots(page, "batch-gallery-dark")
    context.close()


def test_reasons_are_in_the_readers_language_on_the_page_and_in_errors_txt(open_page, tmp_path):
    """Stored as a message and its values: the Russian page and the Russian errors.txt read Russian."""
    import zipfile

    page = open_page(locale="ru-RU")
    page.goto("/")
    batch_id = submit_resize(page, [*photos(tmp_path, 1), broken_jpeg(tmp_path)])
    run_in_process(batch_id)
    page.wait_for_selector("#download:not([hidden])", timeout=20_000)
    reason = page.locator("tr.state-failed .error").inner_text()
    assert reason == "Не удалось прочитать: изображение повреждено или неполное.", reason
    with page.expect_download() as download:
        page.click("#download-link")
    report = zipfile.ZipFile(download.value.path()).read("errors.txt").decode()
    assert report.startswith("Не удалось обработать 1 из 2 файлов:"), report
    assert "cut off.jpg: Не удалось прочитать" in report
    # The same batch read in English says it in English (the API, without Accept-Language).
    english = Batch.objects.get(pk=batch_id).files.get(original_name="cut off.jpg").error
    assert english == "Could not be read: the image is damaged or incomplete."


def test_a_three_step_chain_fits_one_desktop_screen(open_page, shots):
    page = open_page()
    page.goto("/")
    page.select_option("#id_processor", "resize")
    for processor in ("watermark_text", "convert"):
        page.click("#add-step")
        page.locator("fieldset.step:visible").last.locator("select").first.select_option(processor)
    assert page.locator("fieldset.step:visible").count() == 3
    page.locator("#steps").scroll_into_view_if_needed()
    shots(page, "upload-chain-desktop")
    steps = page.locator("#steps").bounding_box()
    button = page.locator("#submit-button").bounding_box()
    assert steps["height"] <= DESKTOP["height"] - 100, f"the chain is {steps['height']:.0f} px tall"
    assert button["y"] + button["height"] - steps["y"] <= DESKTOP["height"], "chain and button on one screen"


def test_the_bar_moves_while_a_step_reports_nothing(open_page, tmp_path, scratch_registry):
    """A long encode reports nothing until it ends; the page's bar still moves, on the chain's pace."""
    from tests.support.pacing import processing_thread, silent_batch

    batch = silent_batch(4)
    page = open_page()
    page.goto(f"/b/{batch.pk}/")
    worker = processing_thread(str(batch.files.get().pk))
    seen = []
    while worker.is_alive():
        seen.append(page.evaluate("() => document.querySelector('.files progress').value"))
        page.wait_for_timeout(300)
    worker.join()
    assert any(0.3 <= value <= 0.95 for value in seen), seen
