"""`thimble bench model --cpu VIEW`: benchmark as if on a smaller x86 CPU.

Issue 16's AVX2 targets compare thimble's AVX2 path with numpy's float
forward and onnxruntime's int8 on an AVX2 machine; on an AVX-512 or AMX host
both peers run their wider kernels, and THIMBLE_ISA=avx2 restricts only
thimble. A view restricts everyone: the benchmark runs again in a child
process into which runtime/host/thm_cpuid_view.c is preloaded, and there
CPUID (made to fault by Linux's ARCH_SET_CPUID, Intel's CPUID faulting)
reports the CPU without the features the view clears. numpy, its OpenBLAS,
onnxruntime's MLAS and thimble each read CPUID to pick kernels, so each picks
what it would on that CPU; glibc chose its string functions before the
preload and is told through GLIBC_TUNABLES. The child checks that the view
took (thimble's and numpy's feature lists) before it measures anything.

What a view cannot change is the core itself: an AVX2 instruction runs at
this core's rate, not at a Haswell's. Ratios measured in one run (thimble
against its peers) are the figures to read.

The table below is the whole definition of a view: CPUID leaf, subleaf,
register and the bits it clears. A rule matches its subleaf exactly (the
ECX the caller passes), so a rule for a leaf without subleaves must say 0,
which is what callers pass.

What the child checks is what thimble and numpy report; onnxruntime and
OpenBLAS have no such report, and show the view in their timings only.
"""
import importlib.util
import os
import platform

from ..core.errors import CommandError, UsageError
from .machine import _cpu_flags

ENV_VIEW = "THIMBLE_CPU_VIEW"          # set in the child: the view it runs under
ENV_CLEAR = "THIMBLE_CPUID_CLEAR"      # read by thm_cpuid_view.c


def _bits(*positions):
    return sum(1 << p for p in positions)


VIEWS = {
    "avx2": {
        "about": "x86-64 with AVX2 and FMA, no AVX-512, AVX-VNNI or AMX (Intel Haswell to Comet Lake, "
                 "AMD Zen 1 to 3)",
        "clear": [
            # leaf 7.0 EBX: AVX512 F, DQ, IFMA, PF, ER, CD, BW, VL
            (7, 0, "ebx", _bits(16, 17, 21, 26, 27, 28, 30, 31)),
            # leaf 7.0 ECX: AVX512 VBMI, VBMI2, VAES, VPCLMULQDQ, VNNI, BITALG, VPOPCNTDQ
            (7, 0, "ecx", _bits(1, 6, 9, 10, 11, 12, 14)),
            # leaf 7.0 EDX: AVX512 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512-FP16, AMX-TILE, AMX-INT8
            (7, 0, "edx", _bits(2, 3, 8, 22, 23, 24, 25)),
            # leaf 7.1 EAX: AVX-VNNI, AVX512-BF16, AMX-FP16, AVX-IFMA
            (7, 1, "eax", _bits(4, 5, 21, 23)),
            # leaf 7.1 EDX: AVX-VNNI-INT8, AVX-NE-CONVERT, AVX-VNNI-INT16, AVX10
            (7, 1, "edx", _bits(4, 5, 10, 19)),
            # leaf 0xD.0 EAX: the opmask/ZMM and AMX tile state components
            (0xD, 0, "eax", _bits(5, 6, 7, 17, 18)),
        ],
        "glibc_hwcaps": "-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD",
        # what must not be visible in the child: thimble ISAs, numpy CPU features
        "absent_isas": ("avx512vnni", "avxvnni", "amx"),
        "absent_numpy": ("AVX512F", "AVX512_SKX", "AVX512VNNI"),
        "present_isas": ("avx2",),
    },
}


def clear_spec(name):
    """THIMBLE_CPUID_CLEAR for a view: LEAF:SUBLEAF:REG:MASK, comma-separated."""
    return ",".join(f"{leaf:#x}:{sub}:{reg}:{mask:#x}" for leaf, sub, reg, mask in VIEWS[name]["clear"])


def shim_path():
    """The preload object built with the package, or None."""
    spec = importlib.util.find_spec("thimble._cpuid_view")
    return spec.origin if spec and spec.origin and os.path.isfile(spec.origin) else None


def unavailable_reason():
    """Why no view can run on this machine, or None."""
    if not (platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")):
        return f"--cpu needs Linux on x86-64 (this is {platform.system()} on {platform.machine()})"
    if "cpuid_fault" not in _cpu_flags():
        return ("--cpu needs CPUID faulting, which this CPU or hypervisor does not offer (no cpuid_fault in "
                "/proc/cpuinfo): run the benchmark on a machine of the smaller kind instead")
    if shim_path() is None:
        return "--cpu needs thimble._cpuid_view, which this installation lacks (reinstall thimble on x86-64 Linux)"
    return None


def child_env(name, env=None):
    """The environment of a process that runs under view `name`."""
    env = dict(os.environ if env is None else env)
    env["LD_PRELOAD"] = " ".join(p for p in (shim_path(), env.get("LD_PRELOAD")) if p)
    env[ENV_CLEAR] = clear_spec(name)
    env[ENV_VIEW] = name
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and not t.startswith("glibc.cpu.hwcaps=")]
    env["GLIBC_TUNABLES"] = ":".join(tunables + [f"glibc.cpu.hwcaps={VIEWS[name]['glibc_hwcaps']}"])
    for var in ("PYTHONFAULTHANDLER", "PYTHONDEVMODE"):    # faulthandler would take CPUID's faults
        env.pop(var, None)
    env.pop("OPENBLAS_CORETYPE", None)      # a forced OpenBLAS kernel would not be the view's
    return env


def active():
    """The view this process runs under, or None."""
    return os.environ.get(ENV_VIEW) or None


def seen(name):
    """What this process sees of the CPU under view `name` -> dict for the JSON;
    CommandError if the view did not take."""
    import numpy as np
    from ..kernels import c_backend
    view = VIEWS[name]
    isas = {isa: c_backend.isa_available(isa) for isa in c_backend.ISAS}
    feats = _numpy_features(np)
    wrong = [f"thimble ISA {i}" for i in view["absent_isas"] if isas.get(i)]
    wrong += [f"thimble ISA {i} missing" for i in view["present_isas"] if not isas.get(i)]
    wrong += [f"numpy feature {f}" for f in view["absent_numpy"] if feats.get(f)]
    if wrong:
        raise CommandError(f"the {name} CPU view did not take: this process still sees {', '.join(wrong)}")
    return {"name": name, "about": view["about"], "cpuid_cleared": clear_spec(name),
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
            "thimble_isas_seen": isas,
            "numpy_features_seen": sorted(f for f, on in feats.items() if on)}


def describe(machine):
    """One line on the view a result was measured under, or None."""
    v = machine.get("cpu_view")
    if not v:
        return None
    isas = ", ".join(i for i, on in v["thimble_isas_seen"].items() if on)
    return (f"seen as {v['name']} through CPUID faulting (CPUID bits cleared: {v['cpuid_cleared']}); "
            f"thimble ISAs seen: {isas}; numpy AVX512F {'yes' if 'AVX512F' in v['numpy_features_seen'] else 'no'}")


def _numpy_features(np):
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:                     # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    return dict(__cpu_features__)


def check_usage(args):
    """UsageError for --cpu where it cannot apply; CommandError where it cannot run here."""
    if args.board:
        raise UsageError("--cpu is a view of this host's CPU: it does not go with --board")
    if args.cpu not in VIEWS:
        raise UsageError(f"--cpu {args.cpu}: unknown view (known: {', '.join(VIEWS)})")
    why = unavailable_reason()
    if why:
        raise CommandError(why)
