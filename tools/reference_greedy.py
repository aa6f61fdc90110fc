"""Entry point of the greedy-decoding reference fixture (docs/ENGINE.md §7); the code is
tools/adalink/reference_greedy.py.

    python3 tools/reference_greedy.py --package public/models/tiny-pali-test \
        --checkpoint tools/checkpoints/tiny-pali-test --dataset e2e/fixtures/tiny-captions \
        --adapter e2e/fixtures/reference-adafactor.json --out e2e/fixtures/reference-greedy.json
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adalink.reference_greedy import main  # noqa: E402

if __name__ == "__main__":
    main()
