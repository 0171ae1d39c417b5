# The two commands of the README:
#   make app    set up a virtual environment with the pinned packages and run the app on the shipped weights
#   make test   set up the same environment plus the test tools, then lint (ruff.toml) and run the tests
# CPU=1 (make app CPU=1) takes torch and torchvision from PyTorch's CPU-only index, as the Dockerfile does.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: app test chromium

app: $(VENV)/.app
	$(BIN)/streamlit run app.py

test: $(VENV)/.dev chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

TORCH_CPU = $(if $(CPU),$(BIN)/pip install --quiet $$(grep -E '^(torch|torchvision)==' requirements.txt) \
	--index-url https://download.pytorch.org/whl/cpu)

$(VENV)/.app: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(TORCH_CPU)
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(TORCH_CPU)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.app

# The browser test drives Debian's Chromium (nothing downloads a browser). Installed here when we
# may (root with apt-get, as in CI); elsewhere the test is skipped and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed and cannot be installed here: the browser test will be skipped"; fi; }
