import pytest
from toolchain import HINT

from decode_harness import build_checker


@pytest.fixture(scope="session")
def decode_check(tmp_path_factory):
    exe = build_checker(tmp_path_factory.mktemp("decodec"))
    if exe is None:
        pytest.fail(f"no C compiler on PATH: cannot build the C grammar; {HINT}", pytrace=False)
    return exe
