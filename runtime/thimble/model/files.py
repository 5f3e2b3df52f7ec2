"""Reading a checkpoint file whole, bounded: the one place the loaders
(needle_pickle, safetensors, cactus_weights) open their input."""
import os

from .params import CheckpointError


def read_bounded(path, max_bytes, what="this reader accepts"):
    """The bytes of the file at path, refused (CheckpointError, one line) when it
    is over max_bytes or cannot be read."""
    source = os.fspath(path)
    try:
        size = os.path.getsize(source)
        if size > max_bytes:
            raise CheckpointError(f"{source}: {size} bytes is more than {what} ({max_bytes} bytes)")
        with open(source, "rb") as f:
            # read(n) allocates n bytes up front: n = the cap would ask for GiBs of
            # address space for every file, which a process under a memory limit
            # (ulimit -v, no overcommit) cannot have
            return f.read(size + 1)
    except OSError as e:
        raise CheckpointError(f"{source}: cannot read: {e}") from None
