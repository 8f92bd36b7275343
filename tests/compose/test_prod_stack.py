"""docker-compose.prod.yml, built and run for real under Podman: https with a certificate made here,
the http site mode, secrets only from .env.prod, no source mounted, our containers not root."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.compose import client
from tests.compose.stack import Podman, Project
from tests.helpers import ROOT
from tests.support.s3server import free_port

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]
RESIZE = [{"processor": "resize", "options": {"width": 200, "height": 200}}]
OUR_SERVICES = ("web", "worker-images", "worker-media", "beat", "flower")


def make_certificate(folder: Path, name: str) -> Path:
    """A certificate authority, and a certificate for `name` signed by it where certbot would put one."""
    live = folder / "live" / name
    live.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Compose test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(live / "privkey.pem"),
            "-out", "site.csr")
    (folder / "san.ext").write_text(f"subjectAltName=DNS:{name},IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", str(live / "fullchain.pem"))
    return folder / "ca.pem"


def write_env(path: Path, **values: str) -> None:
    """.env.prod as an operator makes it: the example, with their values in place."""
    lines = []
    for line in (ROOT / ".env.prod.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if not line.startswith("#") and "=" in line and key in values else line)
    missing = set(values) - {line.split("=", 1)[0] for line in lines}
    assert not missing, f"not in .env.prod.example: {missing}"
    path.write_text("\n".join(lines) + "\n")


def site_values(scheme: str, port: str, secrets_: dict[str, str]) -> dict[str, str]:
    origin = f"{scheme}://localhost:{port}"
    return {
        **secrets_,
        "SERVER_NAME": "localhost", "ALLOWED_HOSTS": "localhost", "CSRF_TRUSTED_ORIGINS": origin,
        "NGINX_SITE": scheme, "HTTPS": str(scheme == "https").lower(), "S3_PUBLIC_ENDPOINT_URL": origin,
        "SITE_URL": origin,
        "DATABASE_URL": f"postgres://mediaconv:{secrets_['POSTGRES_PASSWORD']}@postgres:5432/mediaconv",
        "S3_ACCESS_KEY_ID": secrets_["MINIO_ROOT_USER"], "S3_SECRET_ACCESS_KEY": secrets_["MINIO_ROOT_PASSWORD"],
    }


@pytest.fixture(scope="module")
def site(podman: Podman, image_variables: dict[str, str], tmp_path_factory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("prod-host")
    (folder / "nginx").mkdir()  # the build contexts the file names (images are built already)
    ca = make_certificate(folder / "letsencrypt", "localhost")
    ports = {name: str(free_port()) for name in ("HTTP_PORT", "HTTPS_PORT", "FLOWER_PORT", "S3_CONSOLE_PORT")}
    secrets_ = {key: secrets.token_urlsafe(24) for key in (
        "SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "WEBHOOK_SECRET", "METRICS_TOKEN")}
    secrets_["MINIO_ROOT_USER"] = f"root{secrets.token_hex(4)}"
    secrets_["FLOWER_BASIC_AUTH"] = f"admin:{secrets.token_urlsafe(12)}"
    write_env(folder / ".env.prod", **site_values("https", ports["HTTPS_PORT"], secrets_))
    project = Project(podman, f"mcprod{uuid.uuid4().hex[:6]}", ROOT / "docker-compose.prod.yml",
                      {**image_variables, **ports, "LETSENCRYPT_DIR": str(folder / "letsencrypt")}, directory=folder)
    project.base_url = f"https://localhost:{ports['HTTPS_PORT']}"
    project.ca, project.ports, project.secrets, project.folder = str(ca), ports, secrets_, folder
    with project.running():
        yield project


def test_every_service_turns_healthy(site):
    states = site.wait_healthy()
    assert {site.service_of(name) for name in states} == {
        "postgres", "redis", "minio", "web", "worker-images", "worker-media", "beat", "flower", "nginx", "certbot"}


def test_https_with_the_sites_certificate_end_to_end(site):
    page = client.get_page(f"{site.base_url}/", verify=site.ca)
    assert page.status_code == 200 and "max-age=31536000" in page.headers["Strict-Transport-Security"]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{site.base_url}/", timeout=30)  # not a certificate the system trusts: ours
    plain = requests.get(f"http://localhost:{site.ports['HTTP_PORT']}/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://localhost")

    created = client.post_batch(site.base_url, dict(list(client.ten_photographs().items())[:3]), RESIZE,
                                verify=site.ca)
    assert created["status_url"].startswith(f"{site.base_url}/api/"), "links keep https and the port"
    state = client.follow(created["status_url"], verify=site.ca)
    assert (state["status"], state["done_count"]) == ("ready", 3), state["files"]
    archive, served_from = client.fetch_zip(state["download_url"], verify=site.ca)
    assert served_from.startswith(f"{site.base_url}/mediaconv/") and len(archive.namelist()) == 3


def test_secrets_come_from_the_env_file_no_source_is_mounted_and_nothing_of_ours_runs_as_root(site):
    for service in OUR_SERVICES:
        for container in site.containers(service):
            details = site.podman.inspect(container)
            assert site.exec(container, "id", "-u").strip() != "0", f"{container} runs as root"
            assert f"SECRET_KEY={site.secrets['SECRET_KEY']}" in details["Config"]["Env"], container
            binds = [m["Source"] for m in details["Mounts"] if m.get("Type") == "bind"]
            assert not binds, f"{container} mounts host folders: {binds}"
    compose_text = (ROOT / "docker-compose.prod.yml").read_text()
    assert not any(value in compose_text for value in site.secrets.values())


def test_the_http_site_mode(site):
    http_url = f"http://localhost:{site.ports['HTTP_PORT']}"
    write_env(site.folder / ".env.prod", **site_values("http", site.ports["HTTP_PORT"], site.secrets))
    site.up()  # the changed env file recreates the services that read it; the volumes stay
    site.wait_healthy()
    page = client.get_page(f"{http_url}/", allow_redirects=False)
    assert page.status_code == 200 and "Strict-Transport-Security" not in page.headers
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{site.base_url}/", verify=site.ca, timeout=10)  # no TLS site any more

    created = client.post_batch(http_url, dict(list(client.ten_photographs().items())[3:5]), RESIZE)
    state = client.follow(created["status_url"])
    assert (state["status"], state["done_count"]) == ("ready", 2), state["files"]
    archive, served_from = client.fetch_zip(state["download_url"])
    assert served_from.startswith(f"{http_url}/mediaconv/") and len(archive.namelist()) == 2


def test_down_removes_every_container_and_volume(site):
    site.down()
    assert site.leftovers() == {"containers": [], "volumes": [], "networks": []}
