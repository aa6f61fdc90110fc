"""docs/ENGINE.md §3 names this file: the RNG lives in tools/adalink/random.py (import adalink.random)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adalink.random import *  # noqa: E402,F401,F403
