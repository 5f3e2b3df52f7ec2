"""`thimble bench link`: deploy throughput as a share of line rate, through a
proxy paced like a serial line, with and without frame loss, and with byte
errors.

    thimble bench link                                  # 115200 and 921600 baud, 0% and 1% loss,
                                                        # 1e-4 and 5e-4 byte errors
    thimble bench link --image watch.thm --bauds 921600 --loss 0.01 --seeds 1,2,3
    thimble bench link --board watch_m4                 # also through QEMU's UART (not paced)

The device is the real C link server (runtime/device/link) built for this
host with a file-backed flash (thimble.link.host_server), a fresh flash per
run; the client is `thimble deploy`'s (thimble.link.client); between them
thimble.link.proxy paces each direction to baud/10 bytes/s (8N1) and drops
each frame, in both directions and whatever its command, with the given
probability (seeded); or, as a noisy UART does, damages single bytes: each
byte, both ways, is dropped or has a bit flipped (half each) with the given
byte error rate (seeded). The image defaults to a random model of about 260 KiB
built like the device tests' tiny image, but wider.

share of line rate = image bytes / (deploy seconds x baud / 10), the deploy
timed from HELLO to the COMMIT reply (the device's SHA-256 check included).
The framing alone caps it at DATA_CHUNK / (DATA_CHUNK + frame overhead):
1024/1044 = 98.1%. Besides the share, each run reports retransmitted frames,
the frames the proxy dropped, the round trip of a HELLO and of one DATA
frame on that line, whether the device's window covers the bandwidth-delay
product (a window smaller than one DATA round trip cannot fill the line),
and the window and resend timeout the client settled on for the line.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

from ..core.errors import UsageError
from .machine import machine_info
from .results import save

DEFAULT_JSON = os.path.join("bench-results", "link-host.json")
TARGETS = {"share_0_loss": 0.90, "share_1pct_loss": 0.80}           # issue 5
ANCHORS = {"esptool at 921600": 0.74, "SMP/MCUmgr (low)": 0.34, "SMP/MCUmgr (high)": 0.45}
DEFAULT_BAUDS = (115200, 921600)
DEFAULT_LOSS = (0.0, 0.01)
DEFAULT_BYTE_ERRORS = (1e-4, 5e-4)
SECTOR = 4096                       # the host server's flash erase unit


def random_image(d_model=80, layers=2, seed=0):
    """Bytes of a random Needle model carrying watch-tiny's tokenizer. d_model
    32, one layer each, seed 7 is the device tests' tiny image (~90 KB);
    the defaults give ~263 KB."""
    from ..model.synth import random_model, tiny_config
    from ..quant import calibrate, quantize, random_prompts, to_image
    from ..tokenizer import load_model
    from ..tokenizer.payload import build_payload
    from ..core import resources
    tok = str(resources.data_path("models", "watch-tiny", "tokenizer.model"))
    cfg = tiny_config(vocab_size=768, d_model=d_model, num_heads=2, num_kv_heads=1, num_encoder_layers=layers,
                      num_decoder_layers=layers, max_seq_len=256)
    fm = random_model(cfg, seed=seed, weight_scale=4)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=3, length=32, seed=seed), decode_tokens=6))
    return to_image(qm, build_payload(load_model(tok)))


def add_arguments(p):
    p.add_argument("--image", metavar="PATH", help="the .thm image to deploy (default: a random ~260 KiB model)")
    p.add_argument("--bauds", default=",".join(map(str, DEFAULT_BAUDS)), metavar="LIST",
                   help="line speeds, comma-separated (default: %(default)s)")
    p.add_argument("--loss", default=",".join(map(str, DEFAULT_LOSS)), metavar="LIST",
                   help="frame loss probabilities, comma-separated (default: %(default)s)")
    p.add_argument("--byte-errors", default=",".join(map(str, DEFAULT_BYTE_ERRORS)), metavar="LIST",
                   help="byte error rates (half dropped bytes, half flipped bits), comma-separated; "
                   "each runs without frame loss ('' for none; default: %(default)s)")
    p.add_argument("--seeds", default="1,2,3", metavar="LIST",
                   help="loss RNG seeds: a lossy case runs once per seed (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=2.0,
                   help="the client's resend timeout, seconds (default: %(default)s, as thimble deploy)")
    p.add_argument("--board", metavar="NAME",
                   help="also deploy through this board's QEMU UART (not paced: bytes/s only, no target)")
    p.add_argument("--json", metavar="PATH", default=DEFAULT_JSON,
                   help="where to write the results (default: %(default)s)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="draw the share of line rate against frame loss, one line per baud "
                        "(needs the plot extra: pip install 'thimble[plot]')")


def _floats(text, what, lo, hi):
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, not {text!r}") from None
    if not vals or any(not lo <= v <= hi for v in vals):
        raise UsageError(f"{what} must be within {lo:g}..{hi:g}: {text!r}")
    return vals


def _round_trips(url, baud, n=5):
    """Median seconds of a HELLO and of one DATA frame (its ACK back) on the
    paced line, with the device's transfer state set up by a BEGIN of a
    throwaway size (nothing is committed)."""
    import serial
    from ..link import codec
    from ..link.client import LinkClient
    from ..link.proxy import LinkProxy
    with LinkProxy(url, baud=baud) as px, serial.serial_for_url(px.url) as ser:
        link = LinkClient(ser)
        link.hello()
        hello = []
        for _ in range(n):
            t = time.monotonic()
            link.hello()
            hello.append(time.monotonic() - t)
        size = 4 * 1024
        link.begin(size, bytes(32))
        data = []
        for i in range(3):                  # a fourth would program a sector: flash time, not line time
            t = time.monotonic()
            link.request("DATA", codec.pack("DATA", i * 1024, bytes(4), tail=bytes(1024)))
            data.append(time.monotonic() - t)
        link.abort()
    return statistics.median(hello), statistics.median(data)


def bench_host(image, baud, loss, seed, timeout, byte_errors=0.0):
    """One deploy through the paced, lossy or noisy proxy into a fresh host server."""
    import serial
    from ..link import format as F
    from ..link.client import LinkClient
    from ..link.host_server import HostServer
    from ..link.proxy import ByteNoise, Fault, LinkProxy, line_rate
    with tempfile.TemporaryDirectory(prefix="thm_bench_link_") as tmp:
        flash = os.path.join(tmp, "flash.bin")
        slot = -(-len(image) // SECTOR) * SECTOR          # two slots behind two journal sectors
        with HostServer(flash, flash_size=max(1 << 20, 2 * SECTOR + 2 * slot), sector=SECTOR) as url:
            rtt_hello, rtt_data = _round_trips(url, baud)
            faults = [Fault("drop", direction="both", rate=loss, count=None)] if loss else []
            noise = ByteNoise(drop=byte_errors / 2, flip=byte_errors / 2) if byte_errors else None
            with LinkProxy(url, baud=baud, faults=faults, seed=seed, noise=noise) as px, \
                    serial.serial_for_url(px.url) as ser:
                res = LinkClient(ser, timeout=timeout).deploy(image)
            if px.errors:
                raise RuntimeError(f"proxy: {px.errors}")
    rate = line_rate(baud)
    frame = F.FRAME_OVERHEAD + F.size(F.MESSAGES["DATA"]) + F.DATA_CHUNK
    return {"baud": baud, "loss": loss, "byte_errors": byte_errors, "seed": seed if loss or byte_errors else None,
            "status": res.status, "bytes_damaged": px.noise_count,
            "image_bytes": res.image_bytes, "seconds": res.seconds,
            "share_of_line_rate": res.image_bytes / (res.seconds * rate),
            "bytes_per_s": res.image_bytes / res.seconds, "retransmits": res.retransmits,
            "wire_bytes": res.wire_bytes, "frames_dropped": {d: sum(1 for e in px.log if e["direction"] == d)
                                                             for d in ("h2d", "d2h")},
            "frames_seen": px.frames, "rtt_hello_s": rtt_hello, "rtt_data_s": rtt_data,
            "window": F.WINDOW, "window_s": F.WINDOW * frame / rate,
            "window_covers_rtt": F.WINDOW * frame / rate >= rtt_data,
            "client_window": res.window, "client_rto_s": res.rto_s, "resumes": res.resumes}


def bench_board(image, board, timeout):
    """One deploy through QEMU's UART (the app's link firmware): bytes/s."""
    from ..firmware.emulator import Emulator
    from ..link.client import LinkClient
    with tempfile.TemporaryDirectory(prefix="thm_bench_link_") as tmp:
        with Emulator(board, flash=os.path.join(tmp, "flash.bin"), firmware="link") as emu:
            with emu.connect() as ser:
                res = LinkClient(ser, timeout=timeout).deploy(image)
    return {"board": board, "status": res.status, "image_bytes": res.image_bytes, "seconds": res.seconds,
            "bytes_per_s": res.image_bytes / res.seconds, "share_of_115200": res.image_bytes / res.seconds / 11520,
            "retransmits": res.retransmits, "client_window": res.window, "client_rto_s": res.rto_s}


def summarize(runs):
    """Per (baud, loss, byte errors): the median and worst share over the seeds."""
    out = []
    for key in sorted({(r["baud"], r["loss"], r["byte_errors"]) for r in runs}):
        shares = [r["share_of_line_rate"] for r in runs if (r["baud"], r["loss"], r["byte_errors"]) == key]
        target = None if key[2] else TARGETS["share_0_loss"] if key[1] == 0 else \
            TARGETS["share_1pct_loss"] if key[1] <= 0.01 else None
        out.append({"baud": key[0], "loss": key[1], "byte_errors": key[2], "runs": len(shares),
                    "median_share": statistics.median(shares),
                    "worst_share": min(shares), "target": target,
                    "meets_target": None if target is None else min(shares) >= target})
    return out


def print_report(res, out=None):
    out = out or sys.stdout
    s = res["settings"]
    print(f"thimble bench link: {s['image']} ({s['image_bytes']:,} bytes), host C server behind a paced proxy, "
          f"window {res['runs'][0]['window'] if res['runs'] else '?'}", file=out)
    print(f"{'baud':>8}{'loss':>6}{'byte err':>9}{'seed':>6}{'seconds':>9}{'share':>8}{'retx':>6}{'dropped':>9}"
          f"{'RTT hello':>11}{'RTT data':>10}{'window':>9}{'client':>8}{'RTO':>7}", file=out)
    for r in res["runs"]:
        d = r["frames_dropped"]
        print(f"{r['baud']:>8}{100 * r['loss']:>5.1f}%{r['byte_errors'] or '-':>9}"
              f"{r['seed'] if r['seed'] is not None else '-':>6}"
              f"{r['seconds']:>9.2f}{100 * r['share_of_line_rate']:>7.1f}%{r['retransmits']:>6}"
              f"{d['h2d']:>5}+{d['d2h']:<3}{1e3 * r['rtt_hello_s']:>9.1f}ms{1e3 * r['rtt_data_s']:>8.1f}ms"
              f"{1e3 * r['window_s']:>7.0f}ms{r['client_window']:>8}{1e3 * r['client_rto_s']:>5.0f}ms", file=out)
    print("summary (worst over seeds against the issue's targets):", file=out)
    for m in res["summary"]:
        verdict = "" if m["target"] is None else f"  target {100 * m['target']:.0f}%: " + \
            ("met" if m["meets_target"] else "MISSED")
        what = f"{m['byte_errors']:g} byte errors" if m["byte_errors"] else f"{100 * m['loss']:.1f}% loss"
        print(f"  {m['baud']:>7} baud, {what}: median {100 * m['median_share']:.1f}%, "
              f"worst {100 * m['worst_share']:.1f}%{verdict}", file=out)
    print("anchors: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in ANCHORS.items())
          + "; framing ceiling 98.1%", file=out)
    if res.get("board"):
        b = res["board"]
        print(f"{b['board']} through QEMU's UART (not paced): {b['seconds']:.2f} s, {b['bytes_per_s'] / 1000:.1f} "
              f"kB/s ({100 * b['share_of_115200']:.0f}% of 115200 baud), {b['retransmits']} retransmits, "
              f"window {b['client_window']}", file=out)


def run(args):
    bauds = [int(b) for b in _floats(args.bauds, "--bauds", 300, 16_000_000)]
    losses = _floats(args.loss, "--loss", 0.0, 0.5)
    byte_errors = _floats(args.byte_errors, "--byte-errors", 1e-9, 0.01) if args.byte_errors.strip() else []
    seeds = [int(x) for x in _floats(args.seeds, "--seeds", 0, 2**31)]
    if args.plot:
        from . import plot
        plot.require()
    if args.image:
        with open(args.image, "rb") as f:
            image, name = f.read(), args.image
    else:
        image, name = random_image(), "random model (d_model 80, 2+2 layers, seed 0)"
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    res = {"benchmark": "thimble bench link", "machine": machine_info(),
           "settings": {"image": name, "image_bytes": len(image), "bauds": bauds, "loss": losses,
                        "byte_errors": byte_errors, "seeds": seeds,
                        "client_timeout_s": args.timeout, "bits_per_byte": 10,
                        "loss_model": "each frame, both directions, any command, dropped with probability loss",
                        "byte_error_model": "each byte, both directions, dropped (half) or one bit flipped (half) "
                                            "with probability byte_errors; no frame loss",
                        "timing": "HELLO to COMMIT reply, wall clock"},
           "targets": TARGETS, "anchors": ANCHORS, "runs": []}
    for baud in bauds:
        for loss in losses:
            for seed in (seeds if loss else seeds[:1]):
                log(f"{baud} baud, {100 * loss:g}% loss, seed {seed} ...")
                res["runs"].append(bench_host(image, baud, loss, seed, args.timeout))
        for rate in byte_errors:
            for seed in seeds:
                log(f"{baud} baud, {rate:g} byte errors, seed {seed} ...")
                res["runs"].append(bench_host(image, baud, 0.0, seed, args.timeout, rate))
    res["summary"] = summarize(res["runs"])
    if args.board:
        log(f"{args.board} through QEMU ...")
        res["board"] = bench_board(image, args.board, args.timeout)
    res["elapsed_s"] = time.perf_counter() - t0
    print_report(res)
    save(res, args.json)
    if args.plot:
        from . import plot
        plot.plot(res, args.plot)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="thimble bench link", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
