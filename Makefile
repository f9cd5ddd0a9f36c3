# `make run` opens the studio on the demo project; `make test` runs the whole suite.
# Both create .venv in the checkout on first use and install only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint bench screenshots clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Persona Studio needs Python 3.11 or newer; '$(PYTHON)' is not. Run: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch would pull several GB of CUDA packages.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Persona Studio and its dependencies into $(VENV) (first run only)..."
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[dev]"
# insightface without its deps: it requires GUI opencv-python, whose Qt clashes with PySide6.
	$(PIP) install --no-deps "insightface==2.1"
# Real test photos (obama, biden) from the face_recognition sdist, fetched once.
	$(PIP) download --no-deps --no-binary :all: face_recognition==1.3.0 -d $(VENV)/test-data
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/persona-studio $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check studio tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/bench_project.py
# face_recognition is only the drift bench's baseline. --no-deps: it asks for dlib by name, which
# pip would build from source (the studio has dlib-bin), and the rest is installed already.
	@$(BIN)/python -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("face_recognition"))' \
	  || $(PIP) install --no-deps $(VENV)/test-data/face_recognition-1.3.0.tar.gz
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/bench_drift.py

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/persona-studio --workspace persona --screenshot docs/persona-editor.png
	QT_QPA_PLATFORM=offscreen $(BIN)/persona-studio --workspace library --screenshot docs/library.png
	QT_QPA_PLATFORM=offscreen $(BIN)/persona-studio --workspace drift --screenshot docs/drift-heatmap.png
	QT_QPA_PLATFORM=offscreen $(BIN)/persona-studio --workspace timeline --screenshot docs/timeline.png
	QT_QPA_PLATFORM=offscreen $(BIN)/persona-studio --workspace drift --size 1600x1000 \
	  --screenshot docs/frame-inspector.png --part frameInspector

clean:
	rm -rf $(VENV) build *.egg-info
