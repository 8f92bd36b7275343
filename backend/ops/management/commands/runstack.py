"""`manage.py runstack`: web, one worker and beat in one terminal; Ctrl-C stops them all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand


def web_command(bind: str) -> list[str]:
    """gunicorn for the embedded default, which has no nginx in front to take slow uploads:
    threads, so a few clients sending a byte at a time pin threads, not the whole server."""
    return [sys.executable, "-m", "gunicorn", "backend.config.wsgi", "--bind", bind, "--workers", "2",
            "--worker-class", "gthread", "--threads", "32", "--timeout", "300", "--access-logfile", "-",
            "--no-control-socket"]  # its default path is one per host, shared by every instance on it


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together (the embedded default)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def handle(self, *args: object, bind: str, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        python = sys.executable
        commands = {
            "web": web_command(bind),
            "worker": [python, "-m", "workers", "worker"],
            "beat": [python, "-m", "workers", "beat"],
        }
        processes = {name: subprocess.Popen(argv) for name, argv in commands.items()}
        self.stdout.write(f"Serving on http://{bind}/ — press Ctrl-C to stop web, worker and beat.")
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        exited = [name for name, p in processes.items() if p.returncode not in (0, -signal.SIGTERM, None)]
        if exited and not stopping:
            raise SystemExit(f"stopped because {', '.join(exited)} exited")
