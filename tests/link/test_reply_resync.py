"""A reply whose length field a bad byte changed, but within MAX_PAYLOAD,
costs that reply and nothing more. Before, the client's decoder held every
reply behind it until that many bytes came: the replies sat in its buffer
while it waited out HELLO tries or stalled the DATA window. At 5e-4 byte
errors on a 115200 line that made deploys of 300 s (window grown to 16 on
the late burst of ACKs) and "no reply to HELLO after 6 tries" with the
device answering each one. The real C server, through the proxy."""
import pytest
import serial

from thimble.link.client import LinkClient
from thimble.link.proxy import Fault, LinkProxy

TIMEOUT = 0.3
SEED = 14          # the proxy's first d2h draw for this seed flips bit 1 (mask 2): the length's high byte + 512


@pytest.mark.parametrize("cmd, nth, waits", [
    ("HELLO", 1, [("HELLO", TIMEOUT)]),     # HELLO_R: 136 -> 648 bytes, 5 replies' worth
    ("DATA", 5, []),                        # an ACK: 8 -> 520 bytes, 20 ACKs' worth; the next ACK covers it
], ids=["hello-reply", "ack"])
def test_a_reply_with_a_damaged_length_costs_only_itself(cmd, nth, waits, server, imgs):
    a, _ = imgs
    fault = Fault("corrupt", direction="d2h", cmd=cmd, nth=nth, byte=7)     # byte 7: the length's high byte
    with LinkProxy(server.url, faults=[fault], seed=SEED) as px, serial.serial_for_url(px.url) as ser:
        link = LinkClient(ser, timeout=TIMEOUT)
        res = link.deploy(a)
        assert res.status == "deployed" and link.active_sha() == a[32:64].hex()
    (hit,) = px.injected("corrupt")
    assert (hit["byte"], hit["mask"]) == (7, 2), hit                      # the damage this test is about
    assert list(link.expired) == waits
    assert link.dec.errors >= 1
