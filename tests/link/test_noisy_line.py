"""A deploy over a line with byte errors completes: the outside pass's
finding was that at ~5e-4 dropped or flipped bytes, CRC-failure reports for
old DATA frames (ERROR with seq 0: a garbled header names no frame) arrived
after the stream and each one spent a COMMIT or HELLO try, so 3 of 26
deploys failed with "no reply to HELLO after 6 tries" while the device held
every byte. Here 20 seeded deploys per byte error rate, through the proxy's
byte noise (half drops, half flips, both ways) against the real C server
(ASan), must all commit the image whole."""
import pytest
import serial

from thimble.bench.link import random_image
from thimble.link.client import LinkClient
from thimble.link.host_server import HostServer
from thimble.link.proxy import ByteNoise, LinkProxy

SEEDS = range(20)


@pytest.fixture(scope="module")
def image():
    return random_image(d_model=32, layers=1, seed=9)


@pytest.mark.parametrize("rate", [1e-4, 5e-4])
def test_deploy_completes_on_a_noisy_line(rate, image, tmp_path):
    failed, noise = [], {"drop": 0, "flip": 0}
    for seed in SEEDS:
        with HostServer(tmp_path / f"flash{seed}.bin", asan=True) as url, \
                LinkProxy(url, seed=seed, noise=ByteNoise(drop=rate / 2, flip=rate / 2)) as px:
            ser = serial.serial_for_url(px.url)
            try:
                link = LinkClient(ser, timeout=0.3)
                try:
                    res = link.deploy(image)
                    assert res.status == "deployed" and res.sha256 == image[32:64].hex()
                    assert link.active_sha() == image[32:64].hex()
                except Exception as e:          # collect, so the figure says how many of 20
                    failed.append((seed, f"{type(e).__name__}: {e}"))
            finally:
                ser.close()
            for d in px.noise_count.values():
                for k in noise:
                    noise[k] += d[k]
    assert noise["drop"] > 0 and noise["flip"] > 0          # the noise really hit the line
    assert not failed, f"{len(failed)} of {len(SEEDS)} deploys failed: {failed}"
