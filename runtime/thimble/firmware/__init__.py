"""Board firmware from the host: build with CMake, run under QEMU with a
timeout, exchange kernel jobs and results with the conformance firmware, and
the `thimble build` command."""
from .build import BuildError, build_firmware, default_build_dir
from .cli import add_parser, run
from .job import Case, JobError, Record, build_job, parse_results
from .qemu import QemuError, qemu_command, run_qemu
from .runner import run_job

__all__ = ["BuildError", "build_firmware", "default_build_dir", "add_parser", "run", "Case",
           "JobError", "Record", "build_job", "parse_results", "QemuError", "qemu_command",
           "run_qemu", "run_job"]
