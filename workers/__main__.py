"""Entry point of a worker host: `python -m workers` runs a Celery worker,
`python -m workers beat` the scheduler (one per site).

Everything comes from the environment (the same .env on every host): the
broker, database and S3 addresses, plus
  WORKER_QUEUES       queues to consume, default "images,media,default"
  WORKER_CONCURRENCY  processes, default: one per CPU
  WORKER_HOSTNAME     node name, default "worker-<queues>@<host>"
"""

from __future__ import annotations

import os
import sys


def celery_argv(role: str, extra: list[str]) -> list[str]:
    base = [sys.executable, "-m", "celery", "-A", "backend.mediaconv"]
    level = os.environ.get("LOG_LEVEL", "INFO")
    if role == "beat":
        data_dir = os.environ.get("DATA_DIR", "var")
        os.makedirs(data_dir, exist_ok=True)
        return [*base, "beat", "--loglevel", level, "--schedule", os.path.join(data_dir, "celerybeat-schedule"), *extra]
    queues = os.environ.get("WORKER_QUEUES", "images,media,default")
    hostname = os.environ.get("WORKER_HOSTNAME") or f"worker-{queues.replace(',', '-')}@%h"
    argv = [*base, "worker", "--queues", queues, "--hostname", hostname, "--loglevel", level]
    if os.environ.get("WORKER_CONCURRENCY"):
        argv += ["--concurrency", os.environ["WORKER_CONCURRENCY"]]
    if os.environ.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem://"):
        argv += ["--without-gossip", "--without-mingle"]  # no broadcast on the filesystem transport
    return [*argv, *extra]


def main() -> None:
    args = sys.argv[1:]
    role = args.pop(0) if args and args[0] in {"worker", "beat"} else "worker"
    argv = celery_argv(role, args)
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with Celery


if __name__ == "__main__":
    main()
