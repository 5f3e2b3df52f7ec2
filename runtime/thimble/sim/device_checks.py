"""The board's own checks of what it is sent, run on the host through cffi:
the same C (runtime/device), so the host refuses exactly what a board
refuses, with the same code and message.

    check_image(image_bytes)     thm_app_check: image, bind, tokenizer, vocabulary,
                                 positions, the arena plan (all but the board's budget)
    check_request(request_bytes) thm_app_request_parse, then the tools' wire form
                                 (thm_grammar_tools_init: repeated names, bounds)
"""
from .. import _kernels
from ..app.prompt import PromptError
from .c_model import CModel, CModelError, app_check

ffi, lib = _kernels.ffi, _kernels.lib
__all__ = ["CModelError", "check_image", "check_request"]
MAX_NEW = 96                    # THM_APP_MAX_NEW: the most tokens a board generates per request


def check_image(image_bytes):
    """Raise CModelError (a ValueError) with the board's own message and code
    (THM_APP_E_*) when a board would refuse this image: thm_app_check, the app's
    whole check but the board's arena budget (`thimble plan --board` has that).
    An image without a tokenizer (plan, bench and link tests use such) gets the
    model runtime's part of it (image, bind, the arena plan for the app's limits):
    the board's app would still refuse to run it, and says so at COMMIT."""
    from ..image.reader import parse_image
    if parse_image(image_bytes, verify_hash=False).tokenizer is None:
        probe = CModel(image_bytes, with_arena=False)
        probe.arena_size(probe.max_enc_len, min(probe.max_dec_len, MAX_NEW))
        return None
    return app_check(image_bytes)


def check_request(request):
    """Raise PromptError with the board's message when a board would refuse this request."""
    req = ffi.new("thm_app_request *")
    why = ffi.new("const char **")
    buf = ffi.from_buffer(bytes(request))
    if lib.thm_app_request_parse(buf, len(request), req, why) != lib.THM_APP_OK:
        raise PromptError(ffi.string(why[0]).decode())
    # the wire form is the request's tail: header, query, tools JSON, then wire
    tools = ffi.new("thm_tools *")
    n = int.from_bytes(bytes(request[16:20]), "little")
    err = lib.thm_grammar_tools_init(tools, buf + (len(request) - n), n)
    if err:
        raise PromptError(ffi.string(lib.thm_grammar_strerror(err)).decode())
