"""The one progress printer of every long step (calibration, fidelity runs,
deploys): a bar redrawn in place on a terminal; elsewhere (a log, CI, a
pipe) one plain line at the start (done == 0) and at each `every` percent, so a log shows the work moving
without a line per step."""
import sys
import time

BAR = 30                  # characters of the bar


def progress_printer(label, stream=None, *, unit="", every=25):
    """progress(done, total) for work measured in `unit` (" bytes": a rate is
    shown on a terminal too)."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    state = {"next": every, "t0": time.monotonic(), "start": None}

    def progress(done, total):
        if state["start"] is None:
            state["start"] = done
        pct = 100 * done // max(total, 1)
        if tty:
            fill = BAR * done // max(total, 1)
            rate = ""
            dt = time.monotonic() - state["t0"]
            if unit == " bytes" and dt > 0:
                rate = f"  {(done - state['start']) / dt / 1000:.1f} kB/s"
            stream.write(f"\r{label} [{'#' * fill}{'.' * (BAR - fill)}] {pct:3d}%  {done:,}/{total:,}{unit}{rate}")
            if done >= total:
                stream.write("\n")
            stream.flush()
        elif done == 0 or pct >= state["next"]:       # a line when the work starts, then each step
            print(f"{label} {done:,}/{total:,}{unit} ({pct}%)", file=stream, flush=True)
            state["next"] = (pct // every + 1) * every
    return progress
