"""Every module the settings name (views, handlers, middleware, DRF's classes) imports first in a
fresh process, in whatever order Django's checks or a server reach it: an import cycle that the
test suite's own import order hides would stop the web container at its start-up check."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

FIRST_IMPORTS = ["backend.web.views", "backend.api.views", "backend.api.errors", "backend.api.parsers",
                 "backend.api.serializers", "backend.api.schema", "rest_framework.views", "backend.batches.tasks",
                 "backend.config.urls"]


def fresh(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    environment.update(DJANGO_SETTINGS_MODULE="backend.config.settings", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_each_entry_module_imports_first_in_a_fresh_process():
    code = ("import importlib, subprocess, sys\n"
            "for name in sys.argv[1:]:\n"
            "    done = subprocess.run([sys.executable, '-c', 'import django; django.setup(); import ' + name])\n"
            "    assert done.returncode == 0, name\n")
    done = subprocess.run([sys.executable, "-c", code, *FIRST_IMPORTS], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
                                            "DJANGO_SETTINGS_MODULE": "backend.config.settings"})
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("debug", ["true", "false"])
def test_the_start_up_check_passes_as_the_web_container_runs_it(debug, tmp_path):
    done = fresh("from django.core.management import execute_from_command_line; "
                 "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'ERROR'])",
                 DEBUG=debug, SECRET_KEY="k" * 60, DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
