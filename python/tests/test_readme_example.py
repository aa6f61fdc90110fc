"""Runs python/README.md's examples as written (paths relative to the repository root; files they save land in
a temporary folder)."""
from __future__ import annotations

import os
import re
import tempfile
import unittest

from _support import HAVE_TORCH, HAVE_TRANSFORMERS, NO_TORCH, NO_TRANSFORMERS, PYTHON_DIR, REPO, TOOLS

from adalink_studio import read_adapter_file


def blocks() -> list[str]:
    with open(os.path.join(PYTHON_DIR, "README.md"), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def absolute(code: str) -> str:
    return re.sub(r'"((?:e2e|tools)(?:/[^"]*)?)"', lambda m: repr(os.path.join(REPO, m.group(1))), code)


class ReadmeExample(unittest.TestCase):
    def test_there_are_two_examples_the_first_five_lines(self) -> None:
        code = blocks()
        self.assertEqual(len(code), 2)
        self.assertEqual(len(code[0].strip().splitlines()), 5)

    def test_the_projects_readme_shows_the_same_five_lines(self) -> None:
        with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
            shown = re.findall(r"```python\n(.*?)```", f.read(), re.S)
        self.assertEqual(shown, blocks()[:1])

    @unittest.skipUnless(HAVE_TORCH, NO_TORCH)
    def test_use_your_adapter_in_pytorch(self) -> None:
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            try:
                scope: dict = {}
                exec(absolute(blocks()[0]), scope)  # noqa: S102 - the README's own code
                self.assertEqual(tuple(scope["image_tokens"].shape), (1, 64, 256))
                saved = read_adapter_file(os.path.join(tmp, "my-adapter.safetensors"), base_model="pali-scenes-default")
                self.assertEqual((saved.steps, saved.d_model), (1000, 256))
                if not HAVE_TRANSFORMERS:
                    self.skipTest(NO_TRANSFORMERS + "; the first example ran")
                if not os.path.exists(os.path.join(TOOLS, "checkpoints", "pali-scenes-default", "model.safetensors")):
                    self.skipTest("no tools/checkpoints/pali-scenes-default/model.safetensors "
                                  "(python3 tools/checkpoint_from_package.py); the first example ran")
                exec(absolute(blocks()[1]), scope)  # noqa: S102
                ids = scope["ids"][0, 1:].tolist()
                self.assertIn(2, ids)  # a caption that ends with eos within 32 ids
            finally:
                os.chdir(here)


if __name__ == "__main__":
    unittest.main()
