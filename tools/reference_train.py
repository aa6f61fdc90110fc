"""Entry point of the reference trainer (docs/ENGINE.md §6); the code is tools/adalink/reference_train.py.

    python3 tools/reference_train.py --package public/models/tiny-pali-test \
        --checkpoint tools/checkpoints/tiny-pali-test --dataset e2e/fixtures/tiny-captions \
        --out /tmp/reference.json --optimizer adafactor --lr 0.03
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adalink.reference_train import main  # noqa: E402

if __name__ == "__main__":
    main()
