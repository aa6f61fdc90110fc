"""Shared by the tests: puts python/ first on sys.path (the tests run from python/ or from the repository root),
and names the repository's files they read."""
from __future__ import annotations

import importlib.util
import os
import sys

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PYTHON_DIR)
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

FIXTURES = os.path.join(REPO, "e2e", "fixtures")
DEFAULT_ADAPTER = os.path.join(FIXTURES, "pali-scenes-default-adapter.safetensors")
TOOLS = os.path.join(REPO, "tools")

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
HAVE_TRANSFORMERS = HAVE_TORCH and importlib.util.find_spec("transformers") is not None
NO_TORCH = "torch is not installed for this python (the pure-Python tests still ran)"
NO_TRANSFORMERS = "transformers is not installed for this python (it is on the GPU machine: python/README.md)"
