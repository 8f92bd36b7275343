"""Entry point of a worker host: `python -m workers` runs a Celery worker,
`python -m workers beat` the scheduler (one per site), and
`python -m workers health [beat | url URL]` is the container health check
(of the worker, of beat, or of a web or Flower process by one of its URLs).

SIGTERM makes the worker finish its running tasks and exit (Celery's warm
shutdown); a task cut off by a later SIGKILL is redelivered (acks_late).

Everything comes from the environment (the same .env on every host): the
broker, database and S3 addresses, plus
  WORKER_QUEUES       queues to consume, default "images,media,default"
  WORKER_CONCURRENCY  processes, default: one per CPU
  WORKER_HOSTNAME     node name, default "worker-<queues>@<host>"
  WORKER_MALLOC       "jemalloc" (default, when libjemalloc2 is installed) or "glibc"
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path


def celery_argv(role: str, extra: list[str]) -> list[str]:
    base = [sys.executable, "-m", "celery", "-A", "backend.config"]
    level = os.environ.get("LOG_LEVEL", "INFO")
    if role == "beat":
        data_dir = os.environ.get("DATA_DIR", "var")
        os.makedirs(data_dir, exist_ok=True)
        return [*base, "beat", "--loglevel", level, "--schedule", os.path.join(data_dir, "celerybeat-schedule"), *extra]
    queues = os.environ.get("WORKER_QUEUES", "images,media,default")
    argv = [*base, "worker", "--queues", queues, "--hostname", node_name(), "--loglevel", level]
    if os.environ.get("WORKER_CONCURRENCY"):
        argv += ["--concurrency", os.environ["WORKER_CONCURRENCY"]]
    if os.environ.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem://"):
        argv += ["--without-gossip", "--without-mingle"]  # no broadcast on the filesystem transport
    return [*argv, *extra]


# Debian's libjemalloc2, by architecture.
JEMALLOC_PATHS = tuple(f"/usr/lib/{arch}-linux-gnu/libjemalloc.so.2" for arch in ("x86_64", "aarch64"))


def allocator_env(env: dict[str, str]) -> dict[str, str]:
    """The worker's environment with jemalloc preloaded (unless WORKER_MALLOC=glibc or it is not installed).

    Both allocators keep a pool process flat over 1,000 images; jemalloc peaks lower while the
    process builds a large ZIP (`make bench` measures both).
    """
    preload = env.get("LD_PRELOAD", "")
    if env.get("WORKER_MALLOC", "jemalloc") != "jemalloc" or "jemalloc" in preload:
        return env
    library = next((path for path in JEMALLOC_PATHS if Path(path).exists()), None)
    if library is None:
        return env
    return {**env, "LD_PRELOAD": f"{preload} {library}".strip()}


def worker_env(env: dict[str, str]) -> dict[str, str]:
    """What a worker runs with, beyond the site's settings: jemalloc, and one database connection
    kept per pool process (Postgres forks a backend per connection: a new one per file costs more
    CPU than the file's own database work). One connection per process: the web keeps its own default."""
    return {"DATABASE_CONN_MAX_AGE": "600", **allocator_env(env)}


def node_name() -> str:
    queues = os.environ.get("WORKER_QUEUES", "images,media,default")
    return os.environ.get("WORKER_HOSTNAME") or f"worker-{queues.replace(',', '-')}@{socket.gethostname()}"


def health(role: str, target: str = "") -> int:
    """0 when this host's worker answers a ping (or beat wrote its schedule recently, or the URL
    answers 2xx), else 1.

    A check that is one word per argument, with no spaces: Podman's Docker-compatible API
    (before 5.8) splits a health check's arguments on whitespace, so `python -c "import …"`
    never ran there and the service never turned healthy.
    """
    if role == "url":
        import urllib.request

        try:
            with urllib.request.urlopen(target, timeout=5) as response:  # noqa: S310 - our own probe URL
                return 0 if 200 <= response.status < 300 else 1
        except OSError:
            return 1
    if role == "beat":
        schedule = Path(os.environ.get("DATA_DIR", "var")) / "celerybeat-schedule"
        candidates = [p for p in schedule.parent.glob(schedule.name + "*") if p.is_file()]
        return 0 if candidates and max(time.time() - p.stat().st_mtime for p in candidates) < 600 else 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    from backend.config.celery import app

    replies = app.control.ping(destination=[node_name()], timeout=5)
    return 0 if replies else 1


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "health":
        sys.exit(health(*args[1:3]) if len(args) > 1 else health("worker"))
    role = args.pop(0) if args and args[0] in {"worker", "beat"} else "worker"
    argv = celery_argv(role, args)
    env = worker_env(dict(os.environ)) if role == "worker" else dict(os.environ)
    os.execve(argv[0], argv, env)  # noqa: S606 - replace this process with Celery


if __name__ == "__main__":
    main()
