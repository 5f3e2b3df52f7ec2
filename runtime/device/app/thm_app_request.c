/* The request a board receives (THRQ, thm_app.h): every field bounded
 * before anything is read through it. Apart from thm_app.c so the host
 * builds it too (no board, no HAL): `thimble sim` runs this very check
 * through cffi, and refuses what a board refuses with the same message. */
#include <string.h>

#include "thm_app.h"

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (rd16(p + 2) << 16); }

int thm_app_request_parse(const uint8_t *buf, size_t len, thm_app_request *req, const char **why)
{
    *why = 0;
    if (!buf || len < THM_APP_REQ_HEADER || memcmp(buf + THM_APP_REQ_F_MAGIC, THM_APP_REQ_MAGIC, 4) ||
        rd16(buf + THM_APP_REQ_F_VERSION) != THM_APP_REQ_VERSION) {
        *why = "request: bad magic, version or length";
        return THM_APP_E_REQUEST;
    }
    req->max_new_tokens = rd16(buf + THM_APP_REQ_F_MAX_NEW_TOKENS);
    req->query_len = rd32(buf + THM_APP_REQ_F_QUERY_LEN);
    req->tools_json_len = rd32(buf + THM_APP_REQ_F_TOOLS_JSON_LEN);
    req->tools_wire_len = rd32(buf + THM_APP_REQ_F_TOOLS_WIRE_LEN);
    req->flags = rd32(buf + THM_APP_REQ_F_FLAGS);
    if (req->flags & ~THM_APP_REQ_TRUNCATE) {
        *why = "request: unknown flags";
        return THM_APP_E_REQUEST;
    }
    if (req->max_new_tokens < 2 || req->max_new_tokens > THM_APP_MAX_NEW) {
        *why = "request: max_new_tokens must be 2..96";
        return THM_APP_E_REQUEST;
    }
    if (req->query_len < 1 || req->query_len > THM_APP_MAX_QUERY) {
        *why = "request: query must be 1..1024 bytes";
        return THM_APP_E_REQUEST;
    }
    if (req->tools_json_len < 2 || req->tools_json_len > THM_APP_MAX_TOOLS_JSON) {
        *why = "request: tools JSON must be 2..8192 bytes";
        return THM_APP_E_REQUEST;
    }
    if (req->tools_wire_len < THM_TOOLS_HEADER || req->tools_wire_len > THM_TOOLS_MAX_WIRE) {
        *why = "request: tools wire form must be 8..4096 bytes";
        return THM_APP_E_REQUEST;
    }
    /* each length is bounded above, so the sum cannot wrap */
    if ((size_t)THM_APP_REQ_HEADER + req->query_len + req->tools_json_len + req->tools_wire_len != len) {
        *why = "request: lengths do not add up to the request size";
        return THM_APP_E_REQUEST;
    }
    req->query = buf + THM_APP_REQ_HEADER;
    req->tools_json = req->query + req->query_len;
    req->tools_wire = req->tools_json + req->tools_json_len;
    return THM_APP_OK;
}
