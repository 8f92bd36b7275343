"""`make bench`: the service measured against the cost of the work itself.

Runs on the machine's Postgres and Redis and a SeaweedFS S3 server it starts on
loopback, like the integration tests; web is gunicorn, workers are real Celery
processes. Prints a table and writes the same figures as JSON (to --out, else to
mediaconv-bench-results.json in the system's temporary folder, never into the source tree).

    python -m bench [--quick] [--images N] [--out results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.s3server import S3_BUCKET, S3Server  # noqa: E402 - after the path is set

TARGETS = {"overhead_12mp": 0.15, "overhead_2mp": 0.30, "codec_ratio": 1.15, "stack_cpu_ratio": 1.2,
           "memory_growth": 0.10, "fair_ratio": 3.0, "video_ratio": 1.05, "parts_ratio": 1.2}
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


# ---------------------------------------------------------------------------
# Inputs


def photo_jpeg(size: tuple[int, int], seed: int) -> bytes:
    """A realistic photograph (scikit-image's samples) at `size`, with sensor-like noise, as a camera JPEG."""
    from PIL import Image
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket"]
    sample = Image.fromarray(getattr(data, names[seed % len(names)])()).convert("RGB")
    base = sample.resize(size, Image.Resampling.LANCZOS)
    noise = Image.effect_noise(size, 12).convert("RGB")
    image = Image.blend(base, noise, 0.06)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def clip(path: Path, size: str, seconds: int) -> Path:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(path)], check=True)
    return path


# ---------------------------------------------------------------------------
# The stack: database, broker, S3, web, workers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_by_role(sessions: dict[int, str]) -> dict[str, float]:
    """CPU seconds (user + system, children that ended included) of every process of the stack, by role:
    the processes this run started (each leads its own session) and the machine's Postgres and Redis."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        role = sessions.get(int(fields[3])) or {"postgres": "postgres", "redis-server": "redis"}.get(comm)
        if role:
            # utime, stime, and cutime, cstime: the time of children it reaped (Postgres's ended backends).
            totals[role] = totals.get(role, 0.0) + sum(int(value) for value in fields[11:15]) / tick
    return totals


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        (workdir / "s3").mkdir()
        self.s3 = S3Server(workdir / "s3", volumes=120)  # a full run stores about 10 GB
        self.processes: list[subprocess.Popen] = []
        self.roles: dict[int, str] = {}  # session (the started process's pid) → role, for cpu()

    def start(self) -> None:
        self.s3.start()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")},
            **self.s3.env(),
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL",
                                           "postgres://postgres@127.0.0.1:5432/mediaconv_bench"),
            "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/7"),
            "DATA_DIR": str(self.workdir / "data"), "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "MAX_FILES_PER_BATCH": "1000", "MAX_BATCH_BYTES": str(8 * 1024**3),
        }
        os.environ.update(self.env)
        create_database(self.env["DATABASE_URL"])
        os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from backend.config.celery import app

        strangers = app.control.ping(timeout=1.0)
        if strangers:
            raise SystemExit(f"other workers consume the bench broker ({self.env['CELERY_BROKER_URL']}): "
                             f"{[next(iter(reply)) for reply in strangers]}; stop them or set BENCH_BROKER_URL")
        self.purge()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.web = self.spawn([sys.executable, "-m", "gunicorn", "backend.config.wsgi", "--bind",
                               f"127.0.0.1:{port}", "--workers", "1", "--timeout", "900", "--no-control-socket"], "web")
        self.spawn([sys.executable, "-m", "workers", "beat"], "beat")
        self.roles[self.s3.process.pid] = "s3"
        self.wait_http(self.base + "/healthz")

    def cpu(self) -> dict[str, float]:
        return cpu_by_role(self.roles)

    def spawn(self, argv: list[str], name: str, **env: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        self.roles[process.pid] = name.rstrip("0123456789")
        return process

    def worker(self, queues: str, name: str, **env: str) -> subprocess.Popen:
        """A worker process, returned once it answers a ping: its start-up is not part of any figure."""
        from backend.config.celery import app

        node = f"{name}@bench"
        process = self.spawn([sys.executable, "-m", "workers", "worker", "--concurrency", "1", "--without-heartbeat"],
                             name, WORKER_QUEUES=queues, WORKER_HOSTNAME=node, **env)
        self.roles[process.pid] = "workers"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.control.ping(destination=[node], timeout=0.5):
                return process
        raise RuntimeError(f"worker {node} did not start; see {self.workdir}")

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()

    def shutdown(self) -> None:
        for process in self.processes:
            self.stop(process)
        self.s3.stop()

    def purge(self) -> None:
        from backend.batches.dispatch import QUEUES
        from backend.config.celery import app

        with app.connection_for_write() as conn:
            for queue in QUEUES:
                with contextlib.suppress(Exception):  # a queue never declared has nothing to purge
                    conn.default_channel.queue_purge(queue)

    @staticmethod
    def wait_http(url: str, timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError(f"{url} did not answer")

    def submit(self, files: list[tuple[str, bytes]], processor: str, options: dict) -> tuple[str, float]:
        """Upload through the real web process; returns the batch id and the seconds the upload took."""
        import requests

        session = requests.Session()
        session.get(self.base + "/", timeout=30)
        data = {"csrfmiddlewaretoken": session.cookies["csrftoken"], "processor": processor,
                **{f"{processor}-{key}": value for key, value in options.items() if value is not None}}
        started = time.perf_counter()
        response = session.post(self.base + "/", data=data, files=[("files", (n, c)) for n, c in files],
                                allow_redirects=False, timeout=900)
        elapsed = time.perf_counter() - started
        if response.status_code != 302:
            raise RuntimeError(f"upload refused ({response.status_code}): {response.text[:500]}")
        return response.headers["Location"].strip("/").split("/")[-1], elapsed

    def wait(self, batch_id: str, on_progress=None, timeout: float = 3600, poll: float = 0.1):  # noqa: ANN001, ANN201
        from backend.batches.models import Batch

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = Batch.objects.get(pk=batch_id)
            if on_progress:
                on_progress(batch)
            if batch.status in {"ready", "failed"}:
                return batch
            time.sleep(poll)
        raise RuntimeError(f"batch {batch_id} did not finish")


def create_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg2
    from psycopg2 import sql

    name = url.rsplit("/", 1)[1]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cursor.fetchone():
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


# ---------------------------------------------------------------------------
# Measurements

WATERMARK = {"text": "© Bench", "size": 5, "color": "#ffffff", "opacity": 50, "position": "bottom-right",
             "margin": 3}


def processors_alone(image: bytes, count: int, workdir: Path) -> dict:
    """Each processor in a plain process against its codec floor (bench/raw.py)."""
    path = workdir / f"raw-{len(image)}.jpg"
    path.write_bytes(image)
    output = subprocess.run([sys.executable, "-m", "bench.raw", str(path), str(count)],
                            cwd=ROOT, capture_output=True, text=True, check=True,
                            env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"})
    return json.loads(output.stdout)


def end_to_end(stack: Stack, images: list[bytes], workers: int) -> dict:
    from backend.batches.models import BatchFile

    processes = [stack.worker("images,default", f"images{i}") for i in range(workers)]
    try:
        files = [(f"photo-{i:04d}.jpg", images[i % len(images)]) for i in range(len(images))]
        cpu_before = stack.cpu()
        started = time.perf_counter()
        batch_id, upload = stack.submit(files, "watermark_text", WATERMARK)
        batch = stack.wait(batch_id, poll=0.5)
        total = time.perf_counter() - started
        cpu_after = stack.cpu()
    finally:
        for process in processes:
            stack.stop(process)
    rows = list(BatchFile.objects.filter(batch_id=batch_id))
    n = len(rows)
    task = [(r.finished_at - r.started_at).total_seconds() for r in rows]
    timing = {stage: statistics.mean(r.timings.get(stage, 0) for r in rows) for stage in ("download", "process",
                                                                                          "upload")}
    processing = (batch.finished_at - batch.started_at).total_seconds()  # first claim to last finish
    return {
        "files": n, "workers": workers, "failed": batch.failed_count,
        "upload_seconds": upload, "total_seconds": total,
        "processing_seconds": processing,
        "archive_seconds": (batch.ready_at - batch.finished_at).total_seconds(),
        "seconds_per_image": total * workers / n,
        "images_per_second": n / total,
        # The whole stack's CPU seconds per image (web, workers, beat, Postgres, Redis, S3), by role.
        "stack_cpu_per_image": {role: (cpu_after.get(role, 0) - cpu_before.get(role, 0)) / n
                                for role in cpu_after},
        "per_image": {
            "storage_read": timing["download"], "process": timing["process"], "storage_write": timing["upload"],
            "database_and_task": statistics.mean(task) - sum(timing.values()),
            # Time a worker spent between tasks (broker round trip, prefetch), per image.
            "queue_wait": max(0.0, processing * workers / n - statistics.mean(task)),
            "archive": (batch.ready_at - batch.finished_at).total_seconds() * workers / n,
            "upload_to_web": upload * workers / n,
        },
    }


def memory(stack: Stack, image: bytes, count: int, checkpoint: int, allocator: str) -> dict:
    """The pool process's resident memory over `count` images, never replaced meanwhile."""
    env = {"WORKER_MAX_MEMORY_MB": "1000000", "WORKER_MALLOC": allocator}
    worker = stack.worker("images,default", f"memory-{allocator}", **env)
    samples: list[tuple[int, int]] = []

    def sample(batch) -> None:  # noqa: ANN001
        rss = sum(rss_kb(pid) for pid in children(worker.pid))
        if rss:
            samples.append((batch.done_count + batch.failed_count, rss))

    try:
        batch_id, _ = stack.submit([(f"m-{i:04d}.jpg", image) for i in range(count)], "watermark_text", WATERMARK)
        stack.wait(batch_id, on_progress=sample)
    finally:
        stack.stop(worker)
    # While images are processed: around the checkpoint, and over the last 5%. Once every file is
    # done the same process builds the batch's ZIP, a peak of its own, reported apart.
    window = max(1, count // 20)
    at_checkpoint = max((rss for done, rss in samples if checkpoint - window <= done <= checkpoint), default=0)
    at_end = max((rss for done, rss in samples if count - window <= done < count), default=0)
    archive_peak = max((rss for done, rss in samples if done >= count), default=0)
    return {"allocator": allocator, "images": count, "checkpoint": checkpoint,
            "rss_mb_at_checkpoint": at_checkpoint / 1024, "rss_mb_at_end": at_end / 1024,
            "archive_peak_rss_mb": archive_peak / 1024,
            "growth": (at_end - at_checkpoint) / at_checkpoint if at_checkpoint else None}


def fairness(stack: Stack, small: bytes, large: list[bytes], count: int) -> dict:
    """How long a one-file batch takes on an idle worker, and while someone's `count`-file batch is
    being processed by it (submitted once that batch is well under way)."""
    from backend.batches.lifecycle import batch_cancel
    from backend.batches.models import Batch

    def one_file() -> float:
        started = time.perf_counter()
        batch_id, _ = stack.submit([("small.jpg", small)], "watermark_text", WATERMARK)
        stack.wait(batch_id, poll=0.05)
        return time.perf_counter() - started

    worker = stack.worker("images,default", "fair")
    try:
        idle = statistics.median(one_file() for _ in range(3))
        big_id, _ = stack.submit([(f"big-{i:04d}.jpg", large[i % len(large)]) for i in range(count)],
                                 "watermark_text", WATERMARK)
        while Batch.objects.get(pk=big_id).done_count < min(10, count // 4):
            time.sleep(0.2)
        busy = [one_file() for _ in range(3)]
        behind = Batch.objects.get(pk=big_id)
        batch_cancel(big_id)
    finally:
        stack.stop(worker)
    return {"idle_seconds": idle, "busy_seconds": statistics.median(busy), "ratio": statistics.median(busy) / idle,
            "large_batch_files": count, "large_batch_left": count - behind.done_count - behind.failed_count}


def video(stack: Stack, path: Path, workdir: Path) -> dict:
    from backend.processors import ffmpeg
    from backend.processors.media import VideoToMp4

    processor = VideoToMp4()
    form = VideoToMp4.options_form(data=VideoToMp4.default_options())
    assert form.is_valid(), form.errors
    options = form.cleaned_data
    info = ffmpeg.probe(path)
    out = workdir / "bare.mp4"
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
               *processor.input_arguments(info, options), *ffmpeg.INPUT_GUARDS, "-i", str(path),
               *processor.arguments(info, options, workdir), str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    bare = time.perf_counter() - started

    worker = stack.worker("media,default", "media")  # default: the archive task
    try:
        started = time.perf_counter()
        batch_id, upload = stack.submit([(path.name, path.read_bytes())], "video_mp4", VideoToMp4.default_options())
        batch = stack.wait(batch_id)
        total = time.perf_counter() - started
    finally:
        stack.stop(worker)
    assert batch.status == "ready", batch.status
    return {"clip": f"{info.video.width}x{info.video.height}, {info.duration:.0f} s", "bare_seconds": bare,
            "end_to_end_seconds": total, "upload_seconds": upload, "ratio": total / bare}


def upload(stack: Stack, image: bytes, count: int) -> dict:
    worker_pids = children(stack.web.pid)
    before = max((rss_kb(pid, "VmHWM") for pid in worker_pids), default=0)
    files = [(f"u-{i:04d}.jpg", image) for i in range(count)]
    _, seconds = stack.submit(files, "watermark_text", WATERMARK)
    stack.purge()  # only the upload is measured: nobody processes this batch
    peak = max((rss_kb(pid, "VmHWM") for pid in children(stack.web.pid)), default=0)
    return {"files": count, "megabytes": count * len(image) / 1e6, "seconds": seconds,
            "web_peak_rss_mb": peak / 1024, "web_rss_mb_before": before / 1024}


def upload_in_parts(stack: Stack, gigabytes: float, workdir: Path) -> dict:
    """A large file sent through the service's uploads in parts (docs/examples/upload_in_parts.py, four
    parts in flight) against boto3's own multipart upload of the same file (`aws s3 cp`'s method),
    same part size and concurrency, to the same S3."""
    import importlib.util

    from boto3.s3.transfer import TransferConfig
    from django.conf import settings

    spec = importlib.util.spec_from_file_location("upload_in_parts", ROOT / "docs/examples/upload_in_parts.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    size = int(gigabytes * 1024**3)
    path = workdir / "large.wav"
    with open(path, "wb") as out:  # a WAV header and random bytes: nothing for storage to compress
        out.write(b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00D\xac\x00\x00\x10\xb1\x02\x00"
                  b"\x04\x00\x10\x00data\xff\xff\xff\xff")
        while out.tell() < size:
            out.write(os.urandom(min(64 * 1024**2, size - out.tell())))
    client = stack.s3.client()
    config = TransferConfig(multipart_threshold=settings.UPLOAD_PART_BYTES,
                            multipart_chunksize=settings.UPLOAD_PART_BYTES, max_concurrency=4)
    started = time.perf_counter()
    client.upload_file(str(path), S3_BUCKET, "bench/boto3-copy", Config=config)
    boto3_seconds = time.perf_counter() - started
    started = time.perf_counter()
    example.upload_in_parts(stack.base, path)
    ours = time.perf_counter() - started
    path.unlink()
    return {"megabytes": size / 1e6, "part_bytes": settings.UPLOAD_PART_BYTES, "boto3_seconds": boto3_seconds,
            "service_seconds": ours, "ratio": ours / boto3_seconds}


# ---------------------------------------------------------------------------
# Report


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)}


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def report(results: dict) -> str:
    rows: list[tuple[str, str, str]] = []
    codec_target = TARGETS["codec_ratio"]
    for size in results["alone"]:
        for case, figures in results["alone"][size].items():
            ratio = figures["ratio"]
            # Watermarks have the codec target; resize, thumbnail and convert do work past the codec (resampling).
            judged = f" (target ≤ {codec_target}: {verdict(ratio <= codec_target)})" if "watermark" in case else ""
            cpu, floor = figures["cpu_seconds"] * 1000, figures["floor_cpu_seconds"] * 1000
            rows.append((f"{case}, {size.upper()}, alone", f"{cpu:.0f} ms CPU, codec floor {floor:.0f} ms",
                         f"{ratio:.2f}× the codec{judged}"))
    for size in results["end_to_end"]:
        alone = results["alone"][size]["watermark_text"]["seconds"]
        one = results["end_to_end"][size]["1"]
        overhead = one["seconds_per_image"] / alone - 1
        target = TARGETS[f"overhead_{size}"]
        rows.append((f"end to end, {size.upper()}, 1 worker", f"{one['seconds_per_image']:.3f} s/image",
                     f"overhead {overhead:+.0%} over the processor alone ({alone:.3f} s) "
                     f"(target ≤ {target:.0%}: {verdict(overhead <= target)})"))
        split = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in one["per_image"].items())
        rows.append((f"  per image, {size.upper()}", split, ""))
        cpu = one["stack_cpu_per_image"]
        total, own = sum(cpu.values()), results["alone"][size]["watermark_text"]["cpu_seconds"]
        ratio, target = total / own, TARGETS["stack_cpu_ratio"]
        rows.append((f"CPU per image, whole stack, {size.upper()}",
                     f"{total * 1000:.0f} ms vs processor {own * 1000:.0f} ms",
                     f"{ratio:.2f}× (target ≤ {target}: {verdict(ratio <= target)})"))
        rows.append(("  by process", ", ".join(f"{role} {seconds * 1000:.0f} ms"
                                                for role, seconds in sorted(cpu.items(), key=lambda i: -i[1])), ""))
        if "2" in results["end_to_end"][size]:
            two = results["end_to_end"][size]["2"]
            scaling = two["images_per_second"] / one["images_per_second"]
            rows.append((f"end to end, {size.upper()}, 2 workers", f"{two['images_per_second']:.2f} images/s",
                         f"{scaling:.2f}× of 1 worker, on {results['machine']['cores']} cores shared with "
                         "web, Postgres, Redis and S3"))
    for mem in results.get("memory", []):
        growth = mem["growth"] or 0.0
        target = TARGETS["memory_growth"]
        rows.append((f"worker memory over {mem['images']} images, {mem['allocator']}",
                     f"{mem['rss_mb_at_checkpoint']:.0f} MB at {mem['checkpoint']} → {mem['rss_mb_at_end']:.0f} MB",
                     f"{growth:+.1%} (target within ±{target:.0%}: {verdict(abs(growth) <= target)}); "
                     f"then its ZIP: peak {mem['archive_peak_rss_mb']:.0f} MB"))
    if results.get("fairness"):
        fair = results["fairness"]
        rows.append((f"1-file batch behind a {fair['large_batch_files']}-file one",
                     f"{fair['busy_seconds']:.2f} s (idle: {fair['idle_seconds']:.2f} s)",
                     f"{fair['ratio']:.1f}× (target ≤ {TARGETS['fair_ratio']:.0f}×: "
                     f"{verdict(fair['ratio'] <= TARGETS['fair_ratio'])})"))
    if results.get("video"):
        v = results["video"]
        ok = verdict(v["ratio"] <= TARGETS["video_ratio"])
        rows.append((f"video to MP4 ({v['clip']})",
                     f"bare {v['bare_seconds']:.1f} s, service {v['end_to_end_seconds']:.1f} s",
                     f"{v['ratio']:.2f}× (target ≤ {TARGETS['video_ratio']}: {ok})"))
    if results.get("upload"):
        up = results["upload"]
        rows.append((f"upload of {up['files']} files ({up['megabytes']:.0f} MB)", f"{up['seconds']:.1f} s",
                     f"web peak RSS {up['web_peak_rss_mb']:.0f} MB (before: {up['web_rss_mb_before']:.0f} MB)"))
    for name, error in results.get("errors", {}).items():
        rows.append((f"{name}: not measured", error[:100], ""))
    if results.get("parts"):
        p, target = results["parts"], TARGETS["parts_ratio"]
        rows.append((f"upload in parts, {p['megabytes'] / 1000:.1f} GB to S3",
                     f"service {p['service_seconds']:.1f} s, boto3 {p['boto3_seconds']:.1f} s",
                     f"{p['ratio']:.2f}× (target ≤ {target}: {verdict(p['ratio'] <= target)})"))
    width = max(len(r[0]) for r in rows)
    lines = [f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
             f"{results['machine']['memory_gb']} GB; mode: {results['mode']}", ""]
    lines += [f"{a.ljust(width)}  {b}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--images", type=int, help="images per end-to-end batch (default 100, quick 8)")
    parser.add_argument("--out", help="where to write the figures as JSON (default: mediaconv-bench-results.json "
                                      "in the system's temporary folder, outside the source tree)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) for a look afterwards")
    parser.add_argument("--only", help="comma-separated figures to take: processors, fairness, memory, video, upload, "
                                       "parts (default: all)")
    args = parser.parse_args()
    quick = args.quick
    count = args.images or (8 if quick else 100)
    sizes = {"12mp": (4000, 3000), "2mp": (1732, 1155)}
    results: dict = {"mode": "quick" if quick else "full", "machine": machine(), "alone": {}, "end_to_end": {}}

    # A plain `kill` must still stop the workers and servers this run started (they have their own sessions).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="mediaconv-bench-"))
    stack = Stack(workdir)
    try:
        print("Preparing photos and starting Postgres-backed web, Redis broker and SeaweedFS S3…", flush=True)
        photos = {size: [photo_jpeg(dims, seed) for seed in range(4)] for size, dims in sizes.items()}
        stack.start()
        only = set(args.only.split(",")) if args.only else None
        for size in sizes if only is None or "processors" in only else []:
            print(f"processors alone and end to end, {size}…", flush=True)
            results["alone"][size] = processors_alone(photos[size][0], 3 if quick else 9, workdir)
            results["end_to_end"][size] = {
                str(workers): end_to_end(stack, [photos[size][i % 4] for i in range(count)], workers)
                for workers in (1, 2)
            }
        def stage(name: str, measure) -> None:  # noqa: ANN001
            """One figure; a failure is recorded and the run goes on to the next."""
            if only is not None and name not in only:
                return
            print(f"{name}…", flush=True)
            try:
                results[name] = measure()
            except Exception as exc:  # a bench reports what broke and carries on
                results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
                print(f"  {name} failed: {exc}", flush=True)

        stage("fairness", lambda: fairness(stack, photos["2mp"][3], photos["2mp"], 60 if quick else 500))
        allocators = ["glibc", "jemalloc"] if Path(JEMALLOC).exists() else ["glibc"]
        stage("memory", lambda: [memory(stack, photos["2mp"][1], 60 if quick else 1000, 10 if quick else 100,
                                        allocator) for allocator in allocators])
        if shutil.which("ffmpeg"):
            size, seconds = ("1280x720", 5) if quick else ("1920x1080", 30)
            stage("video", lambda: video(stack, clip(workdir / "clip.mp4", size, seconds), workdir))
        stage("upload", lambda: upload(stack, photos["2mp"][2], 20 if quick else 100))
        stage("parts", lambda: upload_in_parts(stack, 0.25 if quick else 1, workdir))
    finally:
        stack.shutdown()
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    table = report(results)
    print("\n" + table)
    out = Path(args.out) if args.out else Path(tempfile.gettempdir()) / "mediaconv-bench-results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nFigures written to {out}")


if __name__ == "__main__":
    main()
