"""How thimble's child processes and temp folders end with thimble.

Three layers, because no single one covers every way a command ends:
- the owner of a child (Emulator, HostServer) stops it and removes its
  folder in `with`/`finally` blocks, which covers errors and Ctrl-C;
- `sigterm_raises()` (installed by `thimble.cli.main`) turns SIGTERM, which
  by default kills Python without running any `finally`, into the
  `Terminated` exception, so the same blocks run;
- `die_with_parent()` asks Linux to SIGKILL the child when thimble itself
  dies (PR_SET_PDEATHSIG), for `kill -9` and crashes where no Python code
  runs at all. Temp folders cannot be saved in that case; QEMU at least no
  longer keeps a core busy.
"""
import contextlib
import ctypes
import os
import signal
import sys
import threading

EXIT_SIGINT = 128 + signal.SIGINT        # 130: what a shell reports for a command ended by Ctrl-C
EXIT_SIGTERM = 128 + signal.SIGTERM      # 143

PR_SET_PDEATHSIG = 1                      # <linux/prctl.h>


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, as KeyboardInterrupt is, so code that
    catches Exception to report an error does not swallow it, while `with`
    and `finally` blocks still stop QEMU and remove temp folders."""


def _on_sigterm(signum, frame):
    # Later SIGTERMs are ignored: raising again inside the cleanup that the
    # first one started would cut that cleanup short (SIGKILL still works,
    # and die_with_parent covers the children then).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises():
    """While inside, SIGTERM raises Terminated in the main thread; the previous
    handler comes back on leaving (tests call `thimble.cli.main` in-process).
    Off the main thread Python cannot set handlers, so nothing changes there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


_PRCTL = _prctl()


def die_with_parent():
    """A preexec_fn for subprocess.Popen (or None where it cannot work): the
    child gets SIGKILL when the thread that started it ends. Linux ties the
    signal to that thread, not the process, so this is only offered on the
    main thread: a child started from a worker thread would otherwise die
    when the worker returns."""
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    prctl = _PRCTL

    def setup():
        # runs in the child between fork and exec: nothing here may import or allocate much
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:          # the parent died before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)
    return setup


def child_processes(pid=None):
    """{pid: command line} of the live (not zombie) children of `pid` (default:
    this process), read from /proc; empty where there is no /proc. For tests
    and checks that a command left no QEMU behind."""
    pid = os.getpid() if pid is None else pid
    out = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for d in entries:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()      # after "(comm)", which may hold spaces
            if int(fields[1]) != pid or fields[0] == b"Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                out[int(d)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue                                               # it ended while we looked
    return out
