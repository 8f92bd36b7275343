"""The API against its own schema, as an outsider would check it: `schemathesis run <site>/api/schema/
-c all` (every check, its default number of examples, the project's schemathesis.toml) against a real
gunicorn web with Postgres, Redis and S3, signed in as an operator so that every operation is reached."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def test_schemathesis_finds_no_failure(processes):
    operator = User.objects.create_user("operator", is_staff=True)
    token = Token.objects.create(user=operator).key
    site = processes.start_web(API_BATCH_CREATE_RATE="", API_UPLOAD_START_RATE="")
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is in the dev lock"
    run = subprocess.run([cli, "run", f"{site}/api/schema/", "-c", "all", "--wait-for-schema", "30",
                          "-H", f"Authorization: Token {token}", "--no-color"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert " passed" in report and "failed" not in report.split("SUMMARY")[-1].lower(), report
