"""The deployment files: valid compose, health checks everywhere, and in step with the code's settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from backend.web.middleware import ENVELOPE_BYTES
from tests.helpers import ROOT

COMPOSE_FILES = ["docker-compose.yml", "docker-compose.prod.yml"]
# The Compose Specification's schema, as Debian's docker-compose ships it.
SCHEMA_CANDIDATES = [Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")]
# Read by tools rather than by the app's settings.
NOT_APP_SETTINGS = {"DJANGO_SETTINGS_MODULE", "PATH"}


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def env_keys(name: str) -> set[str]:
    return {line.split("=", 1)[0] for line in (ROOT / name).read_text().splitlines()
            if re.match(r"^[A-Z][A-Z0-9_]*=", line)}


def settings_read_by_the_code() -> set[str]:
    sources = [ROOT / "backend/config/settings.py", ROOT / "backend/config/celery.py",
               ROOT / "workers/__main__.py", ROOT / "backend/docker-entrypoint.sh"]
    pattern = re.compile(r"""(?:env_(?:int|bool|list)\(\s*|os\.environ(?:\.get)?[(\[]\s*)["']([A-Z][A-Z0-9_]+)["']"""
                         r"""|\$\{([A-Z][A-Z0-9_]+)""")
    found = set()
    for source in sources:
        for match in pattern.finditer(source.read_text()):
            found.add(match.group(1) or match.group(2))
    return found - NOT_APP_SETTINGS


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="Debian's docker-compose is not installed (apt-get install docker-compose; .ci/run does)")
@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_docker_compose_accepts_the_file(tmp_path, name):
    # The prod file reads .env.prod, which only exists on a real host: validate a copy with the example.
    for item in (name, "nginx"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    shutil.copy(ROOT / ".env.prod.example", tmp_path / ".env.prod")
    (tmp_path / "backend").mkdir()
    (tmp_path / "workers").mkdir()
    result = subprocess.run(["docker-compose", "-f", name, "config", "--quiet"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_the_file_follows_the_compose_specification_schema(name):
    schema_path = next((path for path in SCHEMA_CANDIDATES if path.exists()), None)
    if schema_path is None:
        pytest.skip("the Compose Specification schema comes with Debian's docker-compose package")
    validator = jsonschema.Draft201909Validator(json.loads(schema_path.read_text()))  # the draft it declares
    document = load(name)
    validator.validate(document)
    document["services"]["web"]["helthcheck"] = {}  # a typo the schema must catch, or this test proves nothing
    assert not validator.is_valid(document)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_service_has_a_health_check(name):
    services = load(name)["services"]
    missing = [service for service, spec in services.items() if "healthcheck" not in spec]
    assert not missing, f"no health check: {missing}"


def readme_services() -> dict[str, tuple[bool, bool]]:
    """The README's services table: name → (in dev, in prod)."""
    table = (ROOT / "README.md").read_text().split("### Services", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[1] == "✓", cells[2] == "✓")
    return rows


def test_the_services_the_readme_names_exist():
    named = readme_services()
    expected = {"postgres", "redis", "minio", "web", "worker-images", "worker-media", "beat", "flower", "nginx"}
    assert expected <= set(named)
    dev, prod = set(load("docker-compose.yml")["services"]), set(load("docker-compose.prod.yml")["services"])
    for service, (in_dev, in_prod) in named.items():
        assert (service in dev) == in_dev, f"{service}: README and docker-compose.yml disagree"
        assert (service in prod) == in_prod, f"{service}: README and docker-compose.prod.yml disagree"


@pytest.mark.parametrize("example", [".env.example", ".env.prod.example"])
def test_every_setting_the_code_reads_is_in_the_examples(example):
    wanted = settings_read_by_the_code()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "S3_BUCKET", "MEDIA_TIME_LIMIT_FACTOR"} <= wanted, "the scan works"
    missing = sorted(wanted - env_keys(example))
    assert not missing, f"{example} lacks {missing}"


def test_prod_takes_secrets_only_from_the_env_file_and_mounts_no_source():
    services = load("docker-compose.prod.yml")["services"]
    for name, spec in services.items():
        for volume in spec.get("volumes", []):
            assert not str(volume).startswith(("./", "../")), f"{name} mounts source: {volume}"
        environment = spec.get("environment", {})
        assert not any(re.search("PASSWORD|SECRET|KEY", key) for key in environment), f"{name} has inline secrets"
        assert "restart" in spec, f"{name} has no restart policy"
    for name in ("worker-images", "worker-media"):
        spec = services[name]
        assert "container_name" not in spec and "ports" not in spec, f"{name} must scale with --scale"
        assert spec["deploy"]["resources"]["limits"]["memory"]
        assert spec["env_file"] == ".env.prod"
    assert services["worker-media"]["environment"]["WORKER_QUEUES"] == "media"


def test_nginx_accepts_the_largest_request_django_accepts(settings):
    conf = (ROOT / "nginx/locations.inc.template").read_text()
    size = re.search(r"client_max_body_size (\d+)m;", conf)
    assert size, "client_max_body_size in megabytes"
    nginx_bytes = int(size.group(1)) * 1024 * 1024
    django_bytes = settings.MAX_REQUEST_BYTES + ENVELOPE_BYTES
    # Larger, so Django (not nginx) answers with a clear message; not far larger, so nginx still guards.
    assert django_bytes <= nginx_bytes <= django_bytes * 1.1
    # Parts sent straight to the bucket through nginx: room for the largest part a file can have, no more.
    from backend.batches.staging import MAX_PARTS

    part = re.search(r"location /\$\{S3_BUCKET\}/ \{[^}]*client_max_body_size (\d+)m;", conf)
    assert part, "the bucket's location bounds a part's body"
    largest_part = max(settings.UPLOAD_PART_BYTES, -(-settings.MAX_MEDIA_FILE_BYTES // MAX_PARTS))
    assert largest_part <= int(part.group(1)) * 1024 * 1024 <= 100 * 1024 * 1024
    for site in ("http", "https"):
        assert "include /etc/nginx/conf.d/locations.inc;" in (ROOT / f"nginx/{site}.conf.template").read_text()
    https = (ROOT / "nginx/https.conf.template").read_text()
    assert "/etc/letsencrypt/live/${SERVER_NAME}/fullchain.pem" in https and "listen 443 ssl" in https


def test_the_worker_image_has_ffmpeg_fonts_and_no_root():
    dockerfile = (ROOT / "workers/Dockerfile").read_text()
    assert re.search(r"apt-get install .*ffmpeg .*fonts-dejavu-core .*fonts-droid-fallback", dockerfile)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m", "workers"]' in dockerfile
    backend = (ROOT / "backend/Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", backend, re.MULTILINE)
    entrypoint = (ROOT / "backend/docker-entrypoint.sh").read_text()
    assert "migrate --noinput" in entrypoint and "collectstatic --noinput" in entrypoint


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_no_health_check_argument_holds_a_space(name):
    # Podman's Docker-compatible API (before 5.8) splits CMD arguments on whitespace: such a check
    # never passes there, and every service gated on it never starts.
    for service, spec in load(name)["services"].items():
        test = spec["healthcheck"]["test"]
        if test[0] == "CMD":
            assert not any(re.search(r"\s", arg) for arg in test[1:]), f"{service}: {test}"


def test_the_images_take_their_base_as_a_build_argument_and_compose_names_every_image_by_variable():
    for dockerfile, arg in (("backend/Dockerfile", "PYTHON_IMAGE"), ("workers/Dockerfile", "PYTHON_IMAGE"),
                            ("nginx/Dockerfile", "NGINX_IMAGE")):
        text = (ROOT / dockerfile).read_text()
        assert re.search(rf"^ARG {arg}=\S+$", text, re.MULTILINE) and f"FROM ${{{arg}}}" in text, dockerfile
    for name in COMPOSE_FILES:
        for service, spec in load(name)["services"].items():
            assert str(spec.get("image", "${")).startswith("${"), f"{name} {service}: image not from a variable"
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignored[0] == "*" and {"!backend/", "!workers/", "!locale/", "!requirements.txt"} <= set(ignored)


def test_a_worker_host_starts_with_the_sites_settings_without_the_web_static_folder(tmp_path):
    # The prod env file names STATIC_ROOT=/srv/static, which the worker image lacks and may not create.
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    env = {**os.environ, "STATIC_ROOT": str(locked / "static"), "DJANGO_SETTINGS_MODULE": "backend.config.settings"}
    if os.geteuid() == 0:  # root may write anywhere: a path under a file cannot be created by anyone
        (tmp_path / "a-file").write_text("")
        env["STATIC_ROOT"] = str(tmp_path / "a-file" / "static")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup(); from backend.config import celery"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_gunicorn_opens_the_hosts_one_control_socket():
    """gunicorn's control socket has one default path per host: every instance on it would share it."""
    from backend.ops.management.commands.runstack import web_command

    assert "--no-control-socket" in web_command("127.0.0.1:8000")
    for path in ("backend/docker-entrypoint.sh", "Makefile"):
        for line in (ROOT / path).read_text().splitlines():
            if "gunicorn backend.config.wsgi" in line:
                assert "--no-control-socket" in line, f"{path}: {line}"


def test_callbacks_are_not_signed_with_the_sites_own_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"WEBHOOK_SECRET", "DJANGO_SETTINGS_MODULE"}}
    env.update(SECRET_KEY="the-site-secret-" + "x" * 40, DATA_DIR=str(tmp_path))
    code = "import django; django.setup(); from django.conf import settings; print(settings.WEBHOOK_SECRET)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**env, "DJANGO_SETTINGS_MODULE": "backend.config.settings"}, check=True)
    secret = done.stdout.strip().splitlines()[-1]
    assert len(secret) >= 40 and "the-site-secret" not in secret
    again = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={**env, "DJANGO_SETTINGS_MODULE": "backend.config.settings"}, check=True)
    assert again.stdout.strip().splitlines()[-1] == secret, "the same on every process of the site"
