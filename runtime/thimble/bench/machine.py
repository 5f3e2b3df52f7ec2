"""What every benchmark result records about the machine it ran on: CPU,
flags, the ISAs thimble can select, versions, commit, load, date."""
import datetime
import os
import platform
import subprocess

import numpy as np


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _version(module):
    try:
        return __import__(module).__version__
    except Exception:                               # noqa: BLE001 - absent or broken: say so
        return None


def machine_info():
    flags = _cpu_flags()
    wanted = ("sse4_2", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx_vnni", "avx512_bf16", "amx_int8", "asimd", "asimddp")
    isas = {}
    try:
        from ..kernels import c_backend
        isas = {isa: c_backend.isa_available(isa) for isa in c_backend.ISAS}
    except Exception as e:                          # noqa: BLE001
        isas = {"error": str(e)}
    from ..core import resources
    commit = ""
    # only a source checkout has thimble's commit: an installed thimble may sit
    # in a venv inside someone else's repository, whose commit would mislead
    if resources.is_source_checkout():
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, timeout=5, cwd=resources.data_root()).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": [f for f in wanted if f in flags],
        "thimble_isas_available": isas,
        "logical_cpus": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": _version("onnxruntime"),
        "numba": _version("numba"),
        "git_commit": commit or None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
