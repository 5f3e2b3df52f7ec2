"""Run a job of kernel cases on a board under QEMU and read the results back."""
import os
import tempfile

from .job import build_job, parse_results
from .qemu import EXIT_FAULT, QemuError, run_qemu


def run_job(board, elf, cases, isa_mask=0xFFFFFFFF, timeout=120.0):
    """Place the job at the board's weights region, run the firmware, and return
    its Records. Raises QemuError if the firmware does not exit cleanly."""
    region = board.regions["weights"]
    with tempfile.TemporaryDirectory(prefix=f"thm-{board.name}-") as tmp:
        out_path = os.path.join(tmp, "results.bin")
        job_path = os.path.join(tmp, "job.bin")
        with open(job_path, "wb") as f:
            f.write(build_job(cases, out_path, isa_mask, limit=region.size))
        run = run_qemu(board, elf, loads=[(job_path, region.base)], timeout=timeout, cwd=tmp)
        if run.returncode != 0:
            why = "an unexpected exception (fault)" if run.returncode == EXIT_FAULT else f"exit code {run.returncode}"
            raise QemuError(f"{board.name}: firmware ended with {why}\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
        if not os.path.exists(out_path):
            raise QemuError(f"{board.name}: firmware wrote no results file")
        with open(out_path, "rb") as f:
            raw = f.read()
    return parse_results(raw, len(cases))
