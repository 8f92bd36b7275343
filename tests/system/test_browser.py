"""The two pages in a real browser: Debian's Chromium driven by Playwright, against a
live server and a real worker process.

Screenshots go to a temporary directory, or to SCREENSHOTS_DIR (`make screenshots`
writes docs/screenshots/, which the README shows).
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from backend.batches.models import Batch
from tests.helpers import encode, noisy_image
from tests.system.browsing import BATCH_URL, CHROMIUM, DESKTOP, PHONE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]



def image_files(folder: Path, count: int = 3) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / f"photo {index + 1}.jpg"
        path.write_bytes(encode(noisy_image((1200 + 100 * index, 800), seed=index + 1), "JPEG", quality=90))
        paths.append(path)
    return paths


def choose_resize(page, width: int = 400) -> None:
    page.select_option("#id_processor", "resize")
    page.fill("#id_resize-width", str(width))
    page.fill("#id_resize-height", str(width))


def assert_fits_the_screen(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_upload_watch_progress_and_download_the_zip(open_page, processes, tmp_path, shots):
    processes.start("worker", "--concurrency", "2")
    page = open_page()
    page.goto("/")
    files = image_files(tmp_path)
    page.set_input_files("#id_files", [str(path) for path in files])

    # The chosen files are listed with a thumbnail, a size and a remove button.
    items = page.locator("#file-list li")
    assert items.count() == 3
    page.wait_for_function("[...document.querySelectorAll('#file-list img')].every(i => i.complete && i.naturalWidth)")
    size_kb = round(files[0].stat().st_size / 1024)
    assert re.search(rf"\b({size_kb}|{size_kb + 1}) KB\b", items.first.inner_text())
    assert page.locator("#file-summary").inner_text().startswith("3 files")
    choose_resize(page)
    shots(page, "upload-desktop")
    page.set_viewport_size(PHONE)
    assert_fits_the_screen(page)
    shots(page, "upload-phone")
    page.set_viewport_size(DESKTOP)

    # Removing one before the upload leaves two.
    page.get_by_role("button", name="Remove photo 3.jpg").click()
    assert items.count() == 2

    page.click("#submit-button")
    page.wait_for_url(BATCH_URL)
    page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads
    page.wait_for_selector("#download:not([hidden])", timeout=90_000)
    assert page.evaluate("window.stillTheSamePage") is True, "the page reached ready without a reload"
    assert page.locator("#batch-status").inner_text() == "Ready"
    assert page.locator(".files tr.state-done").count() == 2
    # Each row's preview, from S3 through its presigned link (the page's CSP names the storage).
    page.wait_for_function("() => [...document.querySelectorAll('img.preview')].filter(i => i.naturalWidth).length > 1")
    assert re.fullmatch(r"\d+:\d\d", page.locator("#countdown").inner_text())
    assert page.locator("#cancel-form").is_hidden()
    shots(page, "batch-ready-desktop")
    page.set_viewport_size(PHONE)
    assert_fits_the_screen(page)
    shots(page, "batch-ready-phone")

    with page.expect_download() as download_info:
        page.click("#download-link")
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert sorted(archive.namelist()) == ["photo 1.jpg", "photo 2.jpg"]
    for name in archive.namelist():
        with Image.open(io.BytesIO(archive.read(name))) as result:
            assert max(result.size) == 400
    assert page.errors == []


def test_files_dropped_on_the_page_join_the_list(open_page, tmp_path):
    page = open_page()
    page.goto("/")
    page.set_input_files("#id_files", [str(image_files(tmp_path, 1)[0])])
    # What a drag from the desktop delivers: a drop event whose DataTransfer holds files.
    page.evaluate("""() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(2048)], "dropped.mp4", {type: "video/mp4"}));
        transfer.items.add(new File(["hello"], "dropped.txt", {type: "text/plain"}));
        document.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, cancelable: true}));
        document.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, cancelable: true}));
    }""")
    names = page.locator("#file-list .file-name").all_inner_texts()
    assert names == ["photo 1.jpg", "dropped.mp4", "dropped.txt"]
    assert page.evaluate("document.getElementById('id_files').files.length") == 3, "the form sends them too"
    assert page.locator("#file-list li.refused .file-name").all_inner_texts() == ["dropped.txt"]
    assert page.locator("#file-list li").nth(1).locator(".thumb").inner_text() == "MP4"


def test_a_refused_file_is_flagged_before_anything_is_sent(open_page, live_server, tmp_path, shots):
    page = open_page()
    page.goto("/")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = image_files(tmp_path, 1)[0]
    page.set_input_files("#id_files", [str(good), str(notes), str(empty)])

    refused = page.locator("#file-list li.refused")
    assert refused.count() == 2
    assert "not an image, video or audio file" in refused.nth(0).inner_text()
    assert "empty" in refused.nth(1).inner_text()
    assert page.locator("#file-list li:not(.refused)").count() == 1
    shots(page, "upload-refused")

    page.click("#submit-button")
    assert page.locator("#upload-error").is_visible()
    assert "would be refused" in page.locator("#upload-error").inner_text()
    assert page.url == live_server.url + "/" and Batch.objects.count() == 0

    # Removing the flagged files clears the way.
    page.get_by_role("button", name="Remove notes.txt").click()
    page.get_by_role("button", name="Remove empty.png").click()
    assert page.locator("#file-list li.refused").count() == 0
    assert page.errors == []


def test_the_server_refusal_keeps_the_chosen_files(open_page, live_server, tmp_path):
    """A file the browser cannot judge (a ZIP named .jpg) is refused by the server; the page
    shows why and keeps the files, so the person only removes the bad one."""
    page = open_page()
    page.goto("/")
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"PK\x03\x04" + b"\0" * 200)
    good = image_files(tmp_path, 1)[0]
    page.set_input_files("#id_files", [str(good), str(fake)])
    page.click("#submit-button")
    page.wait_for_selector("#files-errors")
    assert "holiday.jpg" in page.locator("#files-errors").inner_text()
    assert page.locator("#file-list li").count() == 2, "the chosen files are still there"
    refused = page.locator("#file-list li.refused")
    assert refused.count() == 1 and "holiday.jpg" in refused.inner_text(), "the refused one is marked in the list"
    assert "is not an image" in refused.locator(".reason").inner_text()
    assert Batch.objects.count() == 0


def test_cancel_while_work_remains(open_page, live_server, tmp_path, shots):
    page = open_page()  # no worker runs: the files stay queued
    page.goto("/")
    page.set_input_files("#id_files", [str(path) for path in image_files(tmp_path, 2)])
    page.click("#submit-button")
    page.wait_for_url(BATCH_URL)
    assert page.locator("#batch-status").inner_text() == "Queued"
    shots(page, "batch-queued")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-button")
    page.wait_for_selector("#cancelled:not([hidden])")
    assert page.locator("#batch-status").inner_text() == "Cancelled"
    batch_id = page.url.rstrip("/").split("/")[-1]
    assert Batch.objects.get(pk=batch_id).status == Batch.Status.CANCELLED


def test_the_link_counts_down_and_the_page_says_when_it_expired(open_page, live_server, shots):
    now = timezone.now()
    batch = Batch.objects.create(
        id=uuid.uuid4(), status=Batch.Status.READY, file_count=1, done_count=1, steps=[{"processor": "resize"}],
        started_at=now - timedelta(seconds=30), ready_at=now - timedelta(seconds=5),
        expires_at=now + timedelta(seconds=4), archive_key="nowhere.zip", archive_size=1234,
    )
    page = open_page()
    page.goto(f"/b/{batch.pk}/")
    assert page.locator("#download").is_visible()
    assert re.fullmatch(r"0:0[0-4]", page.locator("#countdown").inner_text())
    # When the deadline passes, the page says so by itself, without a reload.
    page.wait_for_selector("#expired:not([hidden])", timeout=10_000)
    assert page.locator("#download").is_hidden()
    shots(page, "batch-expired")
    assert page.errors == []
    assert page.locator("#share").is_hidden(), "no link to come back to a batch that is gone"
    assert page.locator("#expired-when").is_visible(), "it says when the batch expired"
    assert "Expired" in page.locator("h1").inner_text()
    page.get_by_role("link", name="Start a new batch").click()
    page.wait_for_url(live_server.url + "/")


def test_russian_from_the_browser_and_english_by_hand(open_page, shots):
    page = open_page(locale="ru-RU")
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").inner_text() == "Конвертация изображений, видео и аудио"
    assert page.locator("#submit-button").inner_text() == "Загрузить и обработать"
    assert "Изменить размер" in page.locator("#id_processor").inner_text()
    shots(page, "upload-russian")

    page.select_option("#language-select", "en")  # applies at once: no button to press
    page.wait_for_selector("text=Convert images, video and audio")
    page.goto("/")  # the choice sticks, whatever the browser asks for
    assert page.locator("#submit-button").inner_text() == "Upload and process"


def test_russian_strings_in_the_page_scripts(open_page, tmp_path):
    page = open_page(locale="ru")
    page.goto("/")
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    page.set_input_files("#id_files", [str(notes)])
    assert "не изображение, видео или аудио" in page.locator("#file-list li.refused").inner_text()
    assert page.locator("#file-summary").inner_text().startswith("1 файл")


def test_pages_work_without_javascript(open_page, processes, tmp_path):
    processes.start("worker")
    page = open_page(javascript=False)
    page.goto("/")
    page.set_input_files("#id_files", [str(path) for path in image_files(tmp_path, 2)])
    choose_resize(page, 300)
    page.click("#submit-button")
    page.wait_for_url(BATCH_URL)
    for _ in range(120):  # a person refreshing; the page also refreshes itself (<noscript> meta refresh)
        if page.locator("#download-link").is_visible():
            break
        page.wait_for_timeout(1000)
        page.reload()
    href = page.locator("#download-link").get_attribute("href")
    assert href.endswith("/download")
    assert page.locator(".files tr.state-done").count() == 2


def test_labelled_controls_and_no_asset_from_elsewhere(open_page, live_server):
    page = open_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
        .filter(el => el.offsetParent !== null)
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
        .map(el => el.outerHTML)""")
    assert unlabelled == []
    assert requests and all(url.startswith(live_server.url) for url in requests), requests

    # Keyboard only: Tab reaches the file picker and the submit button.
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert {"id_files", "id_processor", "submit-button"} <= reached


# WCAG's contrast ratio of each visible text's colour against the background behind it.
CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll('body *')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
    .map((el) => {
      const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
      return [el.tagName + '.' + el.className, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
    });
}"""


def test_text_has_sufficient_contrast(open_page, tmp_path):
    page = open_page()
    page.goto("/")
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    page.set_input_files("#id_files", [str(image_files(tmp_path, 1)[0]), str(notes)])  # a refused row too
    low = [(element, round(ratio, 2)) for element, ratio in page.evaluate(CONTRAST) if ratio < 4.5]
    assert low == [], "WCAG AA asks 4.5:1 for text"


def test_the_waiting_page_polls_less_while_nothing_changes(open_page, live_server, tmp_path):
    page = open_page()  # no worker: nothing changes
    page.goto("/")
    page.set_input_files("#id_files", [str(image_files(tmp_path, 1)[0])])
    page.click("#submit-button")
    page.wait_for_url(BATCH_URL)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "status.json" in request.url else None)
    page.wait_for_timeout(12_000)
    # Once a second would be 12; backing off by 1.5× from one second gives about 6.
    assert 2 <= len(polls) <= 8, polls

