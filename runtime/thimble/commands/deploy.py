"""`thimble deploy IMAGE --port URL`: send a .thm image over the serial link.

Any pyserial URL: a device path (/dev/ttyUSB0, with --baud), socket:// to
`thimble emulate`. The image is checked here first (magic, version, size,
SHA-256), then written into the board's inactive slot with several frames in
flight, verified by the board and committed; an interrupted deploy resumes
where the board's flash journal says. A progress bar on a terminal (stderr),
plain lines every 10% otherwise; then a summary: bytes, seconds, bytes/s and
the share of the line rate (8N1: baud / 10 bytes/s) where the port has one.
`--rollback` makes the previously deployed model active again instead.
"""
import json
import pathlib
import sys

from ..core.progress import progress_printer


def add_parser(p):
    p.add_argument("image", nargs="?", help=".thm image to deploy (not with --rollback)")
    p.add_argument("--port", required=True, help="pyserial URL: /dev/ttyUSB0, socket://127.0.0.1:PORT, ...")
    p.add_argument("--baud", type=int, default=115200, help="line speed for a device path (default 115200)")
    p.add_argument("--rollback", action="store_true", help="make the other (previous) model slot active again")
    p.add_argument("--timeout", type=float, default=2.0,
                   help="seconds without a reply before resending (default 2; a few resends before giving up)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")


def _summary(res, rate, rate_words):
    out = {"status": res.status, "slot": res.slot, "sha256": res.sha256, "image_bytes": res.image_bytes,
           "bytes_sent": res.bytes_sent, "resumed_from": res.resumed_from, "seconds": round(res.seconds, 3),
           "retransmits": res.retransmits, "wire_bytes": res.wire_bytes}
    bps = res.bytes_sent / res.seconds if res.seconds > 0 else 0.0
    out["bytes_per_s"] = round(bps, 1)
    out["line_rate"] = rate_words
    out["share_of_line_rate"] = round(bps / rate, 4) if rate else None
    return out


def _words(s):
    if s["status"] == "same":
        return f"already installed (slot {s['slot']}, sha {s['sha256'][:16]}...), nothing sent"
    share = f"{100 * s['share_of_line_rate']:.0f}% of {s['line_rate']}" if s["share_of_line_rate"] is not None \
        else s["line_rate"]
    resumed = f", resumed from byte {s['resumed_from']:,}" if s["resumed_from"] else ""
    return (f"deployed {s['bytes_sent']:,} bytes in {s['seconds']:.2f} s ({s['bytes_per_s'] / 1000:.1f} kB/s, "
            f"{share}){resumed}, {s['retransmits']} frames retransmitted; SHA-256 verified on the device, "
            f"slot {s['slot']} active (sha {s['sha256'][:16]}...)")


def run(args):
    import serial

    from ..link import format as F
    from ..link.client import LinkClient, LinkError, check_image
    from ..link.port import open_port, port_line_rate
    if args.rollback == bool(args.image):
        print("error: give an IMAGE to deploy, or --rollback without one", file=sys.stderr)
        return 2
    image = None
    if args.image:
        try:
            image = pathlib.Path(args.image).read_bytes()
            check_image(image)
        except OSError as e:
            print(f"error: {args.image}: {e.strerror or e}", file=sys.stderr)
            return 2
        except LinkError as e:
            print(f"error: {args.image}: {e}", file=sys.stderr)
            return 2
    try:
        with open_port(args.port, baudrate=args.baud) as ser:
            rate, rate_words = port_line_rate(args.port, ser)
            # a slow line needs longer than a full window's time on the wire before calling a frame lost
            wait = max(args.timeout, 2 * F.WINDOW * (F.DATA_CHUNK + F.FRAME_OVERHEAD + 8) / rate) if rate else args.timeout
            link = LinkClient(ser, timeout=wait)
            if args.rollback:
                slot = link.rollback()
                info = link.hello()
                out = {"status": "rolled back", "slot": slot, "sha256": info["slots"][slot]["sha256"]}
                print(json.dumps(out) if args.json else
                      f"rolled back: slot {slot} active (sha {out['sha256'][:16]}...)")
                return 0
            res = link.deploy(image, progress=None if args.json else progress_printer("deploying", unit=" bytes", every=10))
    except LinkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (serial.SerialException, OSError, ValueError) as e:
        print(f"error: {args.port}: {e}", file=sys.stderr)
        return 1
    s = _summary(res, rate, rate_words)
    print(json.dumps(s) if args.json else _words(s))
    return 0
