"""The link server on this machine: the device's own C state machine
(runtime/device/link) behind a TCP socket with a file-backed flash
(runtime/device/link/host/thm_link_host.c), for protocol tests, fault tests
and the link benchmark without QEMU.

    with HostServer(tmp / "flash.bin") as url:      # socket://127.0.0.1:PORT
        link = LinkClient(serial.serial_for_url(url))

Built once per source version with the system C compiler (no CMake) into
link_host/ under thimble.core.resources.build_root() (build/ in a checkout, the
per-user cache when installed); `asan=True` builds it with AddressSanitizer
and UBSan, and stop() fails when a sanitizer reported anything.
`cut_after_programs=N` makes the server die in the middle of its Nth flash
program, leaving half of it written: a power cut; start another HostServer
on the same file.
"""
import hashlib
import os
import pathlib
import select
import shutil
import subprocess
import tempfile

from ..core.lifecycle import die_with_parent

from ..core import resources
from ..core.errors import CommandError
from ..firmware.sources import Components

_LINK_HOST = Components(resources.data_root())
SOURCES = _LINK_HOST.sources("link_host")
INCLUDES = _LINK_HOST.includes("link_host")
FLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]
ASAN_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
              "-fno-sanitize-recover=undefined"]
CACHE = resources.build_root() / "link_host"


class HostServerError(CommandError, RuntimeError):
    """The server could not be built or did not start."""


def build(asan=False, cache=CACHE):
    """Path of thm_link_host (built if its sources or flags changed)."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise HostServerError("no C compiler (cc) to build the link host server")
    flags = FLAGS + (ASAN_FLAGS if asan else [])
    h = hashlib.sha256(" ".join([cc] + flags).encode())
    for p in sorted(SOURCES) + sorted(q for d in INCLUDES for q in d.glob("*.h")):
        h.update(p.name.encode() + p.read_bytes())
    exe = pathlib.Path(cache) / f"thm_link_host{'_asan' if asan else ''}_{h.hexdigest()[:16]}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")     # concurrent builders each write their own
    cmd = [cc, *flags, *(f"-I{d}" for d in INCLUDES), *map(str, SOURCES), "-o", str(tmp)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise HostServerError(f"building the link host server failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
    os.replace(tmp, exe)
    return exe


class HostServer:
    """thm_link_host on a free local port. Entering yields its socket:// URL."""

    def __init__(self, flash_path, *, flash_size=1 << 20, sector=4096, board="host", cut_after_programs=None,
                 slots=2, asan=False, start_timeout=30.0):
        self.flash_path = pathlib.Path(flash_path)
        self.argv = [str(build(asan)), "--flash", str(self.flash_path), "--flash-size", str(flash_size),
                     "--sector", str(sector), "--slots", str(slots), "--board", board]
        if cut_after_programs is not None:
            self.argv += ["--cut-after-programs", str(cut_after_programs)]
        self.asan = asan
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self._log = None

    @property
    def url(self):
        return f"socket://127.0.0.1:{self.port}"

    def start(self):
        self._log = tempfile.TemporaryFile()
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
                   UBSAN_OPTIONS="print_stacktrace=1")
        # dies with the test or benchmark that started it, even one killed outright
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._log, env=env,
                                     preexec_fn=die_with_parent())
        ready, _, _ = select.select([self.proc.stdout], [], [], self.start_timeout)
        line = self.proc.stdout.readline().decode(errors="replace").split() if ready else []
        if len(line) != 2 or line[0] != "port":
            self.kill()
            raise HostServerError(f"thm_link_host did not start: {self.log() or 'no output'}")
        self.port = int(line[1])
        return self.url

    def log(self):
        """What the server wrote on stderr so far (power cuts, sanitizer reports)."""
        if not self._log:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def wait(self, timeout=30.0):
        """Wait for the server to exit by itself (a power cut); -> exit status."""
        return self.proc.wait(timeout)

    def kill(self):
        """Stop it at once, as pulling the power does."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
            self.proc.stdout.close()

    def stop(self):
        """Kill it and fail if a sanitizer complained during its life."""
        self.kill()
        text = self.log()
        if self._log:
            self._log.close()
            self._log = None
        if "Sanitizer" in text or "runtime error:" in text:
            raise HostServerError(f"thm_link_host: sanitizer report:\n{text[-6000:]}")

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()             # __exit__ does not run when __enter__ fails
            raise

    def __exit__(self, *exc):
        self.stop()
