"""Podman, the images and the compose projects of the deployment tests (`make compose-test`).

No Docker engine runs here, and no image registry is reachable:

- Podman runs the containers. Its configuration is written per run: no default ulimits (the
  sandbox refuses raising them), runc with cgroupfs (crun refuses this machine's hybrid
  cgroups, and there is no systemd to manage them).
- Debian's docker-compose (v1) drives the compose files through Podman's Docker-compatible
  socket: it implements the Compose file's semantics (health-gated `depends_on`, `--scale`,
  `down -v`) itself, where podman-compose translates them into podman commands and leaves
  some out.
- Podman schedules health checks with systemd timers, and there is no systemd: a thread here
  runs `podman healthcheck run` on every container of the projects instead.
- The base images are made from Debian's packages (mmdebstrap into `podman import`), and the
  stand-ins for postgres, redis, MinIO (SeaweedFS), nginx and certbot from them (standins/).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import ROOT
from tests.support.s3server import weed_binary

STANDINS = Path(__file__).parent / "standins"
STANDIN = "localhost/mediaconv-standin"
BASE_IMAGE = f"{STANDIN}/debian:bookworm"
APP_PREFIX = "localhost/mediaconv-test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


class Podman:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        conf = workdir / "containers.conf"
        runtime = 'runtime = "runc"\n' if shutil.which("runc") else ""
        conf.write_text(f'[containers]\ndefault_ulimits = []\n[engine]\n{runtime}cgroup_manager = "cgroupfs"\n'
                        'events_logger = "file"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.socket = workdir / "podman.sock"
        self.service: subprocess.Popen | None = None
        self.projects: set[str] = set()
        self._ticking = threading.Event()

    def __call__(self, *args: str, check: bool = True, timeout: float = 900, stdin: object = None,
                 ) -> subprocess.CompletedProcess:
        result = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                                stdin=stdin)
        if check and result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def start(self) -> None:
        """The Docker-compatible socket, and the health-check ticker."""
        log = open(self.workdir / "podman-service.log", "wb")  # noqa: SIM115 - lives as long as the service
        self.service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("podman's API socket did not appear")
            time.sleep(0.2)
        self._ticking.set()
        threading.Thread(target=self._tick_health, daemon=True).start()

    def stop(self) -> None:
        self._ticking.clear()
        if self.service and self.service.poll() is None:
            self.service.terminate()
            self.service.wait(timeout=30)

    def _tick_health(self) -> None:
        while self._ticking.is_set():
            for project in list(self.projects):
                for name in self.containers(project):
                    self("healthcheck", "run", name, check=False, timeout=60)
            time.sleep(2)

    def containers(self, project: str, service: str | None = None, *, running: bool = True) -> list[str]:
        args = ["ps", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if not running:
            args.append("--all")
        return sorted(self(*args, check=False).stdout.split())

    def inspect(self, name: str) -> dict:
        return json.loads(self("inspect", name).stdout)[0]

    def image_exists(self, name: str) -> bool:
        return self("image", "exists", name, check=False).returncode == 0

    def build(self, tag: str, context: Path, *, dockerfile: Path | None = None, **build_args: str) -> None:
        args = ["build", "--format", "docker", "--quiet", "--tag", tag]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        if dockerfile:
            args += ["--file", str(dockerfile)]
        self(*args, str(context))


def build_images(podman: Podman) -> dict[str, str]:
    """Every image both stacks need, built here; returns the compose variables that name them."""
    if not podman.image_exists(BASE_IMAGE):
        debootstrap = subprocess.Popen(["mmdebstrap", "--quiet", "--variant=minbase", "bookworm", "-"],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        podman("import", "-", BASE_IMAGE, stdin=debootstrap.stdout)
        if debootstrap.wait() != 0:
            raise RuntimeError("mmdebstrap failed")
    contexts = podman.workdir / "standins"
    shutil.copytree(STANDINS, contexts, dirs_exist_ok=True)
    # pip inside builds reaches PyPI only with this machine's certificate authority; the stand-in
    # Python carries it, the project's Dockerfiles stay as users get them.
    shutil.copy(HOST_CA, contexts / "python" / "host-ca.crt")
    shutil.copy(weed_binary(), contexts / "s3" / "weed")
    for name in ("python", "postgres", "redis", "nginx", "certbot"):
        podman.build(f"{STANDIN}/{name}", contexts / name, BASE=BASE_IMAGE)
    podman.build(f"{STANDIN}/s3", contexts / "s3", BASE=f"{STANDIN}/python")

    python = {"PYTHON_IMAGE": f"{STANDIN}/python"}
    podman.build(f"{APP_PREFIX}/backend:latest", ROOT, dockerfile=ROOT / "backend/Dockerfile", **python)
    podman.build(f"{APP_PREFIX}/worker:latest", ROOT, dockerfile=ROOT / "workers/Dockerfile", **python)
    podman.build(f"{APP_PREFIX}/nginx:latest", ROOT / "nginx", NGINX_IMAGE=f"{STANDIN}/nginx")
    return {"POSTGRES_IMAGE": f"{STANDIN}/postgres", "REDIS_IMAGE": f"{STANDIN}/redis",
            "S3_IMAGE": f"{STANDIN}/s3", "CERTBOT_IMAGE": f"{STANDIN}/certbot", "NGINX_IMAGE": f"{STANDIN}/nginx",
            **python, "IMAGE_PREFIX": APP_PREFIX, "IMAGE_TAG": "latest"}


class Project:
    """One compose project (one stack) run by docker-compose against Podman."""

    def __init__(self, podman: Podman, name: str, compose_file: Path, variables: dict[str, str],
                 directory: Path | None = None) -> None:
        self.podman, self.name, self.file = podman, name, compose_file
        # Where relative paths of the file (env_file, build contexts) point: the file's own folder,
        # or a host's deployment folder holding its .env.prod.
        self.directory = directory or compose_file.parent
        self.base_url = ""  # where the stack's nginx answers, set by the test that starts it
        self.env = {**podman.env, **variables, "DOCKER_HOST": f"unix://{podman.socket}",
                    "COMPOSE_HTTP_TIMEOUT": "600"}
        podman.projects.add(name)

    def compose(self, *args: str, timeout: float = 900) -> str:
        result = subprocess.run(["docker-compose", "--ansi", "never", "-p", self.name, "-f", str(self.file),
                                 "--project-directory", str(self.directory), *args],
                                cwd=self.directory, env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"docker-compose {' '.join(args)} failed:\n{result.stdout[-3000:]}\n"
                               f"{result.stderr[-6000:]}\n{self.logs()}")
        return result.stdout + result.stderr

    @contextlib.contextmanager
    def running(self) -> Iterator[Project]:
        """Up for the tests that use it; removed afterwards, whatever state they left it in
        (a test may have taken it down already)."""
        try:
            self.up()
            yield self
        finally:
            if self.name in self.podman.projects:
                self.remove()

    def service_of(self, container: str) -> str:
        """The service a container belongs to (docker-compose names it <project>_<service>_<n>)."""
        return container.removeprefix(f"{self.name}_").rsplit("_", 1)[0]

    def up(self, *args: str) -> None:
        """Start (or bring up to date) every service; docker-compose waits for the health gates."""
        self.compose("up", "--detach", "--no-build", *args)

    def containers(self, service: str | None = None, *, running: bool = True) -> list[str]:
        return self.podman.containers(self.name, service, running=running)

    def health(self) -> dict[str, str]:
        states = {}
        for name in self.containers():
            state = self.podman.inspect(name)["State"]
            states[name] = (state.get("Health") or state.get("Healthcheck") or {}).get("Status", "none")
        return states

    def wait_healthy(self, timeout: float = 300) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            states = self.health()
            if states and all(status == "healthy" for status in states.values()):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout} s: {states}\n{self.logs()}")
            time.sleep(2)

    def exec(self, container: str, *command: str) -> str:
        return self.podman("exec", container, *command).stdout

    def sql(self, query: str, user: str = "mediaconv", database: str = "mediaconv") -> list[list[str]]:
        """Rows of a query run by psql inside the postgres container (the database is not published)."""
        (postgres,) = self.containers("postgres")
        out = self.exec(postgres, "psql", "-U", user, "-d", database, "-At", "-F", "\t", "-c", query)
        return [line.split("\t") for line in out.splitlines() if line]

    def logs(self, tail: int = 40) -> str:
        parts = []
        for name in self.containers(running=False):
            out = self.podman("logs", "--tail", str(tail), name, check=False)
            parts.append(f"--- {name}\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
        return "\n".join(parts)

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
        self.podman.projects.discard(self.name)

    def remove(self) -> None:
        """Clean up after a failed test: a container crash-looping under a restart policy can escape
        `down`, so remove the project's containers by force first."""
        for name in self.containers(running=False):
            self.podman("rm", "--force", "--time", "5", name, check=False)
        self.down()

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.name}"
        return {
            "containers": self.containers(running=False),
            "volumes": self.podman("volume", "ls", "--quiet", "--filter", label).stdout.split(),
            "networks": [n for n in self.podman("network", "ls", "--format", "{{.Name}}").stdout.split()
                         if n.startswith(f"{self.name}_")],
        }
