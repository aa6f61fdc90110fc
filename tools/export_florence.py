"""Entry point of the Florence-2 exporter (tools/README.md, "Exporting microsoft/Florence-2-base-ft"); the
code is tools/adalink/florence.py.

    python3 tools/export_florence.py --model ~/models/Florence-2-base-ft --out public/models/florence-2-base-ft
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adalink.florence import main  # noqa: E402

if __name__ == "__main__":
    main()
