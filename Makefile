# ChargeNet: `make run` serves a demo network, `make test` runs the suite.
# Both create .venv and install what is needed on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXI_JAR := $(VENV)/share/exi/EXICodec.jar
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_STATIONS ?= 4
# server processes for `make run` and `make serve` (default: one per core with REDIS_URL, one without;
# more than one needs REDIS_URL).
WORKERS ?=
# pytest-xdist processes for `make test` (0: one process). The suite mostly waits on
# sockets, server children and browsers, so it runs more processes than cores.
TEST_WORKERS ?= 3

.PHONY: install run test serve migrate bench clean browsers static java

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The EXI codec behind Plug & Charge contract installation (pki/iso15118/fetch_codec.py).
$(EXI_JAR): $(STAMP)
	$(PY) -m pki.iso15118.fetch_codec $(EXI_JAR)

# A Java runtime for that codec (Debian's headless JRE when none is installed).
java:
	@command -v java >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jre-headless)

install: $(STAMP) $(EXI_JAR) java

migrate: install
	$(PY) manage.py migrate --noinput

# Static files for WhiteNoise (admin, portal, dashboard), gathered into STATIC_ROOT.
static: install
	$(PY) manage.py collectstatic --noinput -v 0

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browsers:
	@test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# Migrates, seeds the demo network, starts simulated chargers and serves on http://$(HOST):$(PORT).
run: migrate static
	$(PY) manage.py seed_demo
	$(PY) manage.py pki_init
	@echo "ChargeNet on http://$(HOST):$(PORT)/ (admin / admin, owner / owner, finance / finance, driver / driver) - Ctrl-C stops server and simulator"
	@echo http://$(HOST):$(PORT) > .server-url
	@$(PY) manage.py simulate --stations $(DEMO_STATIONS) --prefix DEMO- --url ws://$(HOST):$(PORT)/ocpp & \
	  SIM=$$!; trap 'kill $$SIM 2>/dev/null' EXIT INT TERM; \
	  CHARGENET_PUBLIC_URL=$${CHARGENET_PUBLIC_URL:-http://$(HOST):$(PORT)} \
	  $(PY) -m gateway.serve $(if $(WORKERS),--workers $(WORKERS)) --host $(HOST) --port $(PORT)

# The server alone, without demo data or simulator: WORKERS uvicorn processes on one port
# (gateway/serve.py; with more than one, REDIS_URL must be set).
serve: migrate static
	@echo http://$(HOST):$(PORT) > .server-url
	CHARGENET_PUBLIC_URL=$${CHARGENET_PUBLIC_URL:-http://$(HOST):$(PORT)} \
	  $(PY) -m gateway.serve $(if $(WORKERS),--workers $(WORKERS)) --host $(HOST) --port $(PORT)

test: install browsers
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 test-db.sqlite3 .pytest_cache
