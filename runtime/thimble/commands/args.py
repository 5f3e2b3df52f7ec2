"""Checks of what a command line names, made before any work starts, so a
wrong path is a usage error (exit 2, runtime/thimble/core/errors.py) and not a
traceback or a failure after minutes of work."""
import os

from ..core.errors import UsageError


def input_file(path, what="file"):
    """path, if it names a readable file (or folder, for what == 'folder or file')."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such {what}")
    if os.path.isdir(path) and "folder" not in what:
        raise UsageError(f"{path}: is a folder, not a {what}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: not readable")
    return path


def output_file(path, option="-o"):
    """path, if a file can be written there: its folder exists and is writable,
    and path itself is not a folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: the folder {folder} is not writable")
    return path
