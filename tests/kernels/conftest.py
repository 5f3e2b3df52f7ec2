"""Backends under test. `kernel`: every backend except the reference, which
the kernel_check comparisons run themselves; `any_kernel`: all of them, for
checks every backend must share (malformed calls). A backend this CPU cannot
run is skipped with the reason, except kernel_check.MUST_RUN, which fail."""
import pytest

from kernel_check import load
from thimble.kernels import backend_names

FAST = [n for n in backend_names() if n != "reference"]


@pytest.fixture(scope="session", params=FAST)
def kernel(request):
    return load(request.param)


@pytest.fixture(scope="session", params=backend_names())
def any_kernel(request):
    return load(request.param)
