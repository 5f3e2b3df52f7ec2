"""Board firmware from the host: build with CMake (build), run under QEMU
(qemu; emulator: the link firmware with its UART on a TCP port), exchange
kernel jobs and results with the conformance firmware (job, cases, runner),
and answer many prompts on an emulated board (batch)."""
from .build import LINK_TARGET, BuildError, build_firmware, default_build_dir
from .job import Case, JobError, Record, build_job, parse_results
from .qemu import QemuError, qemu_command, run_qemu
from .runner import run_job

__all__ = ["LINK_TARGET", "BuildError", "build_firmware", "default_build_dir", "Case",
           "JobError", "Record", "build_job", "parse_results", "QemuError", "qemu_command",
           "run_qemu", "run_job"]
