"""Large uploads from the page, in Chromium: sent in parts straight to storage (real S3, or the site's
own part endpoint on local storage), resumed after the network is cut and the page reopened without
sending a finished part again, and never passing through the web processes."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from backend.batches import storage
from backend.batches.models import Batch, StagedUpload
from tests.helpers import download_zip, run_in_process, wait_for_batch
from tests.support.media import probe
from tests.system.browsing import BATCH_URL, CHROMIUM

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]
MIB = 1024 * 1024
PART = re.compile(r"(?:partNumber=|/parts/)(\d+)")


def long_wav(path: Path, minutes: int) -> Path:
    """A real WAV (a tone, CD quality): about 10.6 MB a minute."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=330:duration={minutes * 60}",
                    "-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le", "-y", str(path)], check=True, timeout=300)
    return path


def throttle(context, page, *, offline: bool = False, upload_bytes_per_second: float = -1) -> None:
    """Chromium's own network emulation: a slower upload, or no network at all."""
    session = context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", {
        "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": upload_bytes_per_second})


def choose_trim(page, seconds: int = 5) -> None:
    page.select_option("#id_processor", "media_trim")
    page.fill("#id_media_trim-duration", str(seconds))


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_a_large_upload_cut_off_resumes_after_a_reload_without_resending_parts(where, open_page, settings,
                                                                               tmp_path, request):
    if where == "s3":
        processes = request.getfixturevalue("processes")
        call_command("ensure_bucket")  # as the web container does: CORS for the page's part PUTs
        processes.start("worker", "--concurrency", "1")
    wav = long_wav(tmp_path / "interview.wav", minutes=30)  # about 320 MB: 38 parts of 8 MiB
    part_count = -(-wav.stat().st_size // settings.UPLOAD_PART_BYTES)
    page = open_page()
    context = page.context
    finished_first: set[int] = set()
    sent_after: list[int] = []
    phase = {"first": True}

    def on_response(response) -> None:
        number = PART.search(response.url)
        if response.request.method == "PUT" and number and response.status == 200:
            (finished_first.add if phase["first"] else sent_after.append)(int(number.group(1)))

    def on_request(req) -> None:
        number = PART.search(req.url)
        if req.method == "PUT" and number and not phase["first"]:
            sent_after.append(-int(number.group(1)))  # asked for again (negative: a request, not a success)

    context.on("response", on_response)
    context.on("request", on_request)
    page.goto("/")
    throttle(context, page, upload_bytes_per_second=40 * MIB)
    page.set_input_files("#id_files", str(wav))
    choose_trim(page)
    page.click("#submit-button")
    page.wait_for_function("() => document.getElementById('upload-bar').value > 0.25", timeout=60_000)
    figures = re.compile(r"\d+% · [\d.]+ MB / [\d.]+ MB · [\d.]+ MB/s · about \d+:\d\d left")
    assert figures.fullmatch(page.locator("#upload-percent").inner_text()), "overall: bytes, speed, time left"
    assert figures.fullmatch(page.locator("#file-list .file-progress").inner_text()), "and the file's own"
    throttle(context, page, offline=True)  # the connection drops mid-way
    time.sleep(1)
    assert 5 <= len(finished_first) < part_count, finished_first
    assert page.locator("#batch-status").count() == 0, "still on the upload page"
    page.close()  # the person gives up and comes back later

    phase["first"] = False
    page = context.new_page()
    page.goto("/")
    assert "interview.wav" in page.locator("#resume-notice").inner_text()
    page.set_input_files("#id_files", str(wav))
    assert "resumes where it stopped" in page.locator("#file-list").inner_text()
    choose_trim(page)
    page.click("#submit-button")
    page.wait_for_url(BATCH_URL, timeout=120_000)

    requested_again = {-n for n in sent_after if n < 0}
    print(f"{part_count} parts: {len(finished_first)} stored before the cut, {len(requested_again)} sent after")
    assert not requested_again & finished_first, "a part storage already held was sent again"
    assert len(requested_again) <= part_count - len(finished_first)
    assert set(n for n in sent_after if n > 0) | finished_first == set(range(1, part_count + 1))

    batch_id = page.url.rstrip("/").split("/")[-1]
    batch = wait_for_batch(batch_id) if where == "s3" else run_in_process(batch_id)
    assert batch.status == "ready", list(batch.files.values_list("error", flat=True))
    assert batch.files.get().size == wav.stat().st_size
    archive = download_zip(Client(), batch_id)
    (tmp_path / "out.wav").write_bytes(archive.read("interview.wav"))
    assert abs(float(probe(tmp_path / "out.wav")["format"]["duration"]) - 5) < 0.5
    assert not StagedUpload.objects.exists()
    assert page.evaluate("localStorage.getItem('mediaconv.uploads')") == "{}", "the page forgot what it finished"


def _group_figures(pid: int) -> tuple[int, float, int]:
    """RSS (bytes), CPU seconds and bytes read (sockets included) of a process and its children."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    rss = cpu = read = 0
    ticks = 100  # os.sysconf("SC_CLK_TCK") on Linux
    for each in pids:
        try:
            stat = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / ticks
            rss += int(Path(f"/proc/{each}/statm").read_text().split()[1]) * 4096
            io = dict(line.split(": ") for line in Path(f"/proc/{each}/io").read_text().splitlines())
            read += int(io["rchar"])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss, cpu, read


@pytest.mark.s3
def test_a_gigabyte_goes_to_storage_without_passing_through_the_web(open_page, processes, tmp_path):
    call_command("ensure_bucket")
    web = processes.start_web()
    gunicorn = processes.running[-1].pid
    # A WAV header and a gigabyte of silence (a sparse file: no disk is spent on it).
    big = tmp_path / "silence.wav"
    with open(big, "wb") as out:
        out.write(b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00D\xac\x00\x00\x10\xb1\x02\x00"
                  b"\x04\x00\x10\x00data\xff\xff\xff\xff")
        out.truncate(1024 * MIB)
    page = open_page()
    page.goto(web + "/")
    page.set_input_files("#id_files", str(big))
    choose_trim(page)
    page.click("#submit-button")
    # From a tenth of the file (the web has served the upload's start and its first part URLs) to all of it.
    page.wait_for_function("() => document.getElementById('upload-bar').value > 0.1", timeout=120_000)
    before, started = _group_figures(gunicorn), time.monotonic()
    page.wait_for_function("() => document.getElementById('upload-bar').value >= 0.999", timeout=300_000)
    after, seconds = _group_figures(gunicorn), time.monotonic() - started
    page.wait_for_url(BATCH_URL, timeout=120_000)
    batch = Batch.objects.get(pk=page.url.rstrip("/").split("/")[-1])
    assert storage.object_size(batch.files.get().source_key) == 1024 * MIB
    grown, cpu, read = after[0] - before[0], after[1] - before[1], after[2] - before[2]
    print(f"0.9 GiB in {seconds:.1f} s; web: RSS {grown / MIB:+.1f} MiB, CPU {cpu:.2f} s, read {read / MIB:.1f} MiB")
    assert read < 10 * MIB, f"the web read {read / MIB:.0f} MiB: the file's bytes went through it"
    assert grown < 20 * MIB, f"the web grew by {grown / MIB:.0f} MiB"
    assert cpu < max(3.0, 0.1 * seconds), f"the web spent {cpu:.1f} s of CPU"
