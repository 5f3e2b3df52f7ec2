import pytest

from decode_harness import build_checker


@pytest.fixture(scope="session")
def decode_check(tmp_path_factory):
    exe = build_checker(tmp_path_factory.mktemp("decodec"))
    if exe is None:
        pytest.skip("no C compiler on PATH: cannot build the C grammar")
    return exe
