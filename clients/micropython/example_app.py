# An example watch app: a button press asks thimble's model core for a tool
# call over UART1 and dispatches it to a handler. Copy thimble_link.mpy and
# this file to the board (mpremote cp thimble_link.mpy example_app.py :).
#
# TOOLS is `thimble pack-tools tools.json -o tools.bin --python` output: the
# tools' compact JSON and wire form, packed once on the host.
import machine
import time

from thimble_link import Link, LinkError

TOOLS = open("tools.bin", "rb").read()     # or paste the bytes literal pack-tools prints


def set_timer(args):
    print("timer:", args.get("minutes"), "min")


def send_message(args):
    print("message to", args.get("to"), ":", args.get("text"))


HANDLERS = {"set_timer": set_timer, "send_message": send_message}

link = Link(machine.UART(1, baudrate=115200, tx=machine.Pin(4), rx=machine.Pin(5), timeout=100))
button = machine.Pin(15, machine.Pin.IN, machine.Pin.PULL_UP)


def on_press():
    try:
        ans = link.ask("set a timer for ten minutes", TOOLS)
    except LinkError as e:
        print("model core:", e)
        return
    if not (ans.ok and ans.complete):
        print("no tool call:", ans.text)
        return
    import json
    for call in json.loads(ans.text):
        handler = HANDLERS.get(call["name"])
        if handler is None:
            print("no handler for", call["name"])
        else:
            handler(call["arguments"])


while True:
    if button.value() == 0:
        on_press()
        while button.value() == 0:
            time.sleep_ms(10)
    time.sleep_ms(20)
