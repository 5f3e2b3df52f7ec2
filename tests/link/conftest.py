"""Fixtures for the link tests: two small images, and the device's link
server built with AddressSanitizer behind a local TCP socket (a fresh flash
file per test). `start_server(flash, **options)` starts more on any flash
file; every server is stopped (and its sanitizer log checked) at teardown."""
import pytest
import serial

from link_harness import images
from thimble.link.client import LinkClient
from thimble.link.host_server import HostServer


@pytest.fixture(scope="session")
def imgs(tmp_path_factory):
    return images(tmp_path_factory.mktemp("link_images"))


@pytest.fixture
def start_server():
    started = []

    def start(flash, **options):
        srv = HostServer(flash, asan=True, **options)
        srv.start()
        started.append(srv)
        return srv
    yield start
    try:
        for srv in started:
            srv.stop()
    finally:
        for srv in started:         # a sanitizer report from one must not leave the others running
            srv.kill()


@pytest.fixture
def server(start_server, tmp_path):
    return start_server(tmp_path / "flash.bin")


@pytest.fixture
def connect():
    ports = []

    def open_link(srv, **options):
        ser = serial.serial_for_url(srv.url)
        ports.append(ser)
        return LinkClient(ser, **options)
    yield open_link
    for ser in ports:
        ser.close()


@pytest.fixture
def link(server, connect):
    return connect(server)
