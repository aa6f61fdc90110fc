"""What the scripts that run the default model on the demo dataset share (reference_default.py,
bench_train_step.py): their file arguments, and the demo zip unpacked where the reference trainer reads it."""
import tempfile
import zipfile


def add_file_arguments(p):
    p.add_argument("--package", default="public/models/pali-scenes-default")
    p.add_argument("--checkpoint", default="tools/checkpoints/pali-scenes-default")
    p.add_argument("--demo-zip", default="public/demo/relational-captions.zip")


def unzip_demo(path):
    """The demo zip in a fresh temporary folder (an imagefolder: metadata.jsonl with a split column)."""
    folder = tempfile.mkdtemp(prefix="relational-captions-")
    with zipfile.ZipFile(path) as z:
        z.extractall(folder)
    return folder
