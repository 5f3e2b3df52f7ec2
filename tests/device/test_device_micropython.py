"""The MicroPython client (clients/micropython/thimble_link.py): its
constants are the host's tables'; it type-checks against MicroPython's own
stubs (stdlib and the rp2 port), and that check fails on a CPython-only
call; it compiles with mpy-cross within its size budget and holds its
buffers within theirs; and, run under CPython with a `machine.UART` over
pyserial (tests/micropython/shim: the only test-side code), it gets the
same tool calls, tokens and counters from every emulated board as `thimble
run`, through corrupted and dropped frames, and raises a clear LinkError
for a device reset mid-request, a request over the device's limits, tools
over their budget, and a device of another protocol version."""
import importlib
import json
import math
import pathlib
import shutil
import subprocess
import sys

import pytest

from device_harness import OldProtocolDevice
from thimble.app import format as A
from thimble.app.request import pack_tools
from thimble.firmware.emulator import Emulator
from thimble.link import format as F
from thimble.link.client import LinkClient
from thimble.link.proxy import Fault, LinkProxy

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "micropython" / "thimble_link.py"
SHIM = ROOT / "tests" / "micropython" / "shim"
STUBS = pathlib.Path(sys.prefix) / "micropython-stubs"     # tools/bootstrap.sh (pyproject's micropython extra)
MPY_BUDGET = BUFFER_BUDGET = 8192
TOOLS = json.loads((ROOT / "models" / "watch-tiny" / "tools.json").read_text())
PROMPTS = ["set a timer for ten minutes", "send a message to mom saying I'll be late"]


@pytest.fixture(scope="module")
def tl():
    """The client module, imported as a MicroPython app would, with the shim's machine and micropython."""
    for p in (str(SHIM), str(CLIENT.parent)):
        if p not in sys.path:
            sys.path.insert(0, p)
    import machine  # noqa: F401  (adds MicroPython's time functions to CPython's time)
    return importlib.import_module("thimble_link")


@pytest.fixture(scope="module")
def blob():
    return pack_tools(TOOLS[:4])[0]


def test_its_constants_are_the_tables(tl):
    assert tl.VERSION == F.VERSION and tl._MAGIC == F.MAGIC and tl._MAX_PAYLOAD == F.MAX_PAYLOAD
    assert tl._HDR == F.HEADER_SIZE and tl._OVERHEAD == F.FRAME_OVERHEAD and tl._REQ_CHUNK == F.REQ_CHUNK
    assert (tl._HELLO, tl._RUN, tl._REQ, tl._OUT, tl._ERROR, tl._REPLY) == tuple(
        F.COMMANDS[k] for k in ("HELLO", "RUN", "REQ", "OUT", "ERROR")) + (F.REPLY,)
    assert list(tl.STATUS) == [k for k, _ in sorted(F.STATUS.items(), key=lambda kv: kv[1])]
    assert (tl.MAX_QUERY, tl.MAX_TOOLS_JSON, tl.MAX_NEW, tl._ANS_HEADER) == (A.MAX_QUERY, A.MAX_TOOLS_JSON,
                                                                          A.MAX_NEW, A.ANS_HEADER)
    assert tl.MAX_ANSWER == F.MAX_OUTPUT


def _mypy(tmp_path, source):
    """mypy on `source` as MicroPython sees it: MicroPython's stdlib stubs as
    the typeshed, the rp2 port's modules (machine, time, micropython, ...)
    on the path; the stubs' own errors are not ours."""
    if not (STUBS / "stdlib" / "VERSIONS").is_file():
        pytest.fail(f"no MicroPython stubs at {STUBS}: run tools/bootstrap.sh (pyproject's micropython extra)")
    port = tmp_path / "port"
    port.mkdir()
    for p in STUBS.iterdir():
        if p.suffix == ".pyi" or p.name == "_mpy_shed":
            (shutil.copytree if p.is_dir() else shutil.copy)(p, port / p.name)
    mod = tmp_path / "thimble_link.py"
    mod.write_text(source)
    cfg = tmp_path / "mypy.ini"
    cfg.write_text("[mypy]\ncheck_untyped_defs = True\nno_site_packages = True\n"
                   "[mypy-_mpy_shed.*]\nignore_errors = True\n")
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(cfg), "--custom-typeshed-dir",
                        str(STUBS), "--no-incremental", str(mod)], capture_output=True, text=True,
                       env={"MYPYPATH": str(port), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    return r.returncode, [l for l in r.stdout.splitlines() if l.startswith(str(mod)) or "thimble_link.py" in l]


def test_it_type_checks_against_micropython_not_cpython(tmp_path):
    (tmp_path / "ok").mkdir()
    rc, errors = _mypy(tmp_path / "ok", CLIENT.read_text())
    assert rc == 0 and not [e for e in errors if ": error:" in e], errors
    cpython_only = CLIENT.read_text().replace("time.sleep_ms(1)", "time.monotonic()")
    (tmp_path / "bad").mkdir()
    rc, errors = _mypy(tmp_path / "bad", cpython_only)
    assert rc == 1 and any('has no attribute "monotonic"' in e for e in errors), errors


def test_it_compiles_with_mpy_cross_within_its_budgets(tmp_path, tl):
    out = tmp_path / "thimble_link.mpy"
    r = subprocess.run([str(pathlib.Path(sys.executable).with_name("mpy-cross")), "-o", str(out), str(CLIENT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:1] == b"M" and out.stat().st_size <= MPY_BUDGET, out.stat().st_size
    link = tl.Link(None)
    buffers = len(link.rx) + len(link.tx) + len(link.answer) + 8 + tl._REQ_CHUNK     # + _stage's chunk
    assert buffers <= BUFFER_BUDGET, buffers


def _host_answers(url, prompts, tools):
    import serial
    with serial.serial_for_url(url, timeout=120) as ser:
        link = LinkClient(ser)
        return [link.run(q, tools) for q in prompts]


def _same(ans, host, board):
    """Bit-exact answers; the same counts, and instruction figures within
    one tick of the board's counter (two runs start at different phases of
    SysTick: on watch_m4 one tick is 40 instructions)."""
    from thimble.boards import load_board
    head, want = host
    assert (ans.status, ans.complete, ans.text, list(ans.tokens), f"{ans.crc:08x}") == \
        (want.status, want.complete, want.text, want.tokens, want.crc)
    tick = math.ceil(load_board(board).instructions_per_tick)     # ticks * 1e9 // hz: whole instructions
    have, ref = ans.counters, want.counters()
    assert set(have) == set(ref)
    for k in ref:
        assert abs(have[k] - ref[k]) <= (tick if k.startswith("instructions") else 0), (k, have[k], ref[k])
    assert abs(ans.run_reply[4] - head["prefill_insns"]) <= tick
    assert abs(ans.run_reply[5] - head["insns_per_token"]) <= tick


def test_same_tool_calls_and_counters_as_thimble_run(board, link_elf, watch_image, tl, blob):
    with Emulator(board, image=watch_image, elf=link_elf) as emu:
        uart = sys.modules["machine"].UART(emu.url)
        link = tl.Link(uart, run_timeout_ms=120000)
        info = link.hello()
        assert (info["board"], info["active"]) == (board, 0)
        got = [link.ask(q, blob) for q in PROMPTS]
        uart.deinit()
        want = _host_answers(emu.url, PROMPTS, TOOLS[:4])
    for ans, host in zip(got, want):
        _same(ans, host, board)
    assert got[0].ok and got[0].complete and json.loads(got[0].text)[0]["name"] == "set_timer"


def test_corrupted_and_dropped_frames_are_sent_again(m4_elf, watch_image, tl, blob):
    faults = [Fault("corrupt", cmd="REQ", nth=1), Fault("drop", cmd="REQ", nth=2),
              Fault("corrupt", direction="d2h", cmd="REQ", nth=1), Fault("drop", direction="d2h", cmd="RUN", nth=1)]
    with Emulator("watch_m4", image=watch_image, elf=m4_elf) as emu:
        with LinkProxy(emu.url, faults=faults, seed=3) as px:
            uart = sys.modules["machine"].UART(px.url)
            link = tl.Link(uart, timeout_ms=1500, run_timeout_ms=10000)   # a lost RUN reply costs one of these
            ans = link.ask(PROMPTS[0], blob)
            uart.deinit()
            assert len(px.log) == len(faults), px.log
        want = _host_answers(emu.url, PROMPTS[:1], TOOLS[:4])[0]
    _same(ans, want, "watch_m4")
    assert link.resends >= 3


def test_a_device_reset_mid_request_is_an_error_not_an_answer(m4_elf, watch_image, tl, blob):
    with Emulator("watch_m4", image=watch_image, elf=m4_elf) as emu:
        kill = Fault("drop", cmd="RUN", nth=1, on_fire=lambda e: emu.kill())
        with LinkProxy(emu.url, faults=[kill]) as px:
            uart = sys.modules["machine"].UART(px.url)
            link = tl.Link(uart, timeout_ms=300, retries=2, run_timeout_ms=3000)
            with pytest.raises(tl.LinkError) as e:
                link.ask(PROMPTS[0], blob)
            uart.deinit()
    assert e.value.status == "TIMEOUT" and "no reply to command 0x06" in str(e.value)


class _Silent:
    """A UART nobody answers on (bad input must be refused before anything is sent)."""
    def __init__(self):
        self.sent = b""

    def any(self):
        return 0

    def read(self, n=-1):
        return None

    def write(self, b):
        self.sent += bytes(b)
        return len(b)


@pytest.mark.parametrize("query, tools_json_len, match", [
    ("x" * 1025, None, "the query is 1025 bytes; the device takes 1..1024"),
    ("", None, "the query is 0 bytes"),
    ("ok", 9000, "9000 bytes of JSON (the device takes 2..8192)"),
])
def test_bad_input_is_a_clear_error_before_anything_is_sent(tl, blob, query, tools_json_len, match):
    tools = blob
    if tools_json_len:
        tools = b"THTP" + tools_json_len.to_bytes(4, "little") + (0).to_bytes(4, "little") + b"[" * tools_json_len
    uart = _Silent()
    link = tl.Link(uart)
    with pytest.raises(tl.LinkError, match=match.replace("(", r"\(").replace(")", r"\)")) as e:
        link.ask(query, tools)
    assert e.value.status == "E_PROMPT" and uart.sent == b""
    with pytest.raises(tl.LinkError, match="not a `thimble pack-tools` blob"):
        link.ask("ok", b"[{}]")


def test_a_device_of_another_protocol_version(tl):
    with OldProtocolDevice() as url:
        uart = sys.modules["machine"].UART(url)
        with pytest.raises(tl.LinkError) as e:
            tl.Link(uart).hello()
        uart.deinit()
    assert e.value.status == "E_VERSION" and f"v{F.VERSION - 1}, this client v{F.VERSION}" in str(e.value)
