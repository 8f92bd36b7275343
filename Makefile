# The two commands: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test compose-test lint lock bench bench-quick screenshots messages worker beat web flower migrate clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## Web + one worker + beat on the embedded default (SQLite, local files, filesystem broker), at http://$(BIND)
## (default 127.0.0.1:8000; e.g. make run BIND=127.0.0.1:8100)
BIND ?= 127.0.0.1:8000
run: $(VENV)/.runtime
	LOG_FORMAT=$${LOG_FORMAT:-plain} $(PY) manage.py runstack --bind $(BIND)

## The whole suite: lint, then pytest (uses DATABASE_URL / CELERY_BROKER_URL when set).
test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest

## Both compose files built and run for real under Podman (needs podman, runc, docker-compose and
## mmdebstrap: apt-get install them, as .ci/run does). About ten minutes; see README "Deploy".
compose-test: $(VENV)/.dev
	$(PY) -m pytest tests/compose -m compose

lint: $(VENV)/.dev
	$(PY) -m ruff check .

## Re-lock after editing requirements.in or requirements-dev.in: the whole runtime closure, with hashes.
lock: $(VENV)/.dev
	$(VENV)/bin/pip-compile --quiet --strip-extras --generate-hashes --no-emit-index-url --no-emit-find-links \
		--output-file requirements.txt requirements.in
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements-dev.txt requirements-dev.in

## Speed and memory against the raw processing floor (Postgres, Redis and SeaweedFS, like the tests).
bench: $(VENV)/.dev
	$(PY) -m bench
bench-quick: $(VENV)/.dev
	$(PY) -m bench --quick

## Screenshots of both pages (desktop, phone, Russian, dark) into docs/screenshots/, from the browser tests.
screenshots: $(VENV)/.dev
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest tests/system/test_browser.py tests/system/test_browser_pages.py -q

## Refresh locale/*/LC_MESSAGES/*.po from the code and compile them (needs GNU gettext).
messages: $(VENV)/.dev
	$(PY) manage.py makemessages -a --ignore=.venv --ignore=tests --ignore=bench --ignore=var --no-location
	$(PY) manage.py makemessages -d djangojs -a --ignore=.venv --ignore=tests --ignore=var --no-location
	$(PY) manage.py compilemessages --ignore=.venv

## Single processes, for running the parts separately (e.g. against Postgres and Redis from .env).
web: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) -m gunicorn backend.config.wsgi --bind 127.0.0.1:8000 --no-control-socket
worker: $(VENV)/.runtime
	$(PY) -m workers worker
beat: $(VENV)/.runtime
	$(PY) -m workers beat
## Celery's monitoring UI at http://127.0.0.1:5555 (needs a Redis broker: CELERY_BROKER_URL).
flower: $(VENV)/.runtime
	$(VENV)/bin/celery -A backend.config flower --address=127.0.0.1 --port=5555
migrate: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput

clean:
	rm -rf var .pytest_cache .ruff_cache
