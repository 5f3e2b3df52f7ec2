"""Where every `thimble bench` run leaves its figures: one JSON file."""
import json
import os


def write_json(result, path):
    """`result` as indented JSON at `path`, its folder made if need be."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


def save(result, path):
    """Write `result` to `path` (nothing when path is empty) and say so, with
    the run's `elapsed_s`."""
    if path:
        write_json(result, path)
        print(f"\nwrote {path} ({result['elapsed_s']:.1f} s)")
