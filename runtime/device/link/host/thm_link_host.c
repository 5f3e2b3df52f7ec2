/* The link server on a host: the real C state machine behind a TCP socket,
 * with a file-backed flash that persists across restarts, so tests can kill
 * it mid-write (a power cut) and start it again on the same file.
 *
 *   thm_link_host --flash FILE [--flash-size BYTES] [--sector BYTES]
 *                 [--slots 1|2] [--port N] [--board NAME] [--cut-after-programs N]
 *
 * Prints "port N" on stdout once listening (N = 0 asks for a free port).
 * Serves one connection at a time; a closed connection keeps the transfer
 * state in RAM, as a board that stays powered does. --cut-after-programs N
 * exits abruptly in the middle of the Nth flash program (half its bytes
 * written): a power cut at the worst moment. The RUN handler answers the
 * SHA-256 (hex) of the active slot's contents, computed from flash, then ':'
 * and the staged request echoed (as much as fits): tests check which model
 * really answers and that a staged request arrived whole. */
#define _POSIX_C_SOURCE 200809L   /* pread, pwrite */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "thm_link_server.h"
#include "thm_sha256.h"

#define MAX_FLASH (64u << 20)
#define MAX_SECTOR (64u << 10)

typedef struct {
    int fd;
    uint32_t size;
    long cut_after;      /* programs left before the simulated power cut; < 0: never */
} file_flash;

static int ff_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t n) {
    file_flash *f = ctx;
    if ((uint64_t)off + n > f->size) return -1;
    return pread(f->fd, buf, n, off) == (ssize_t)n ? 0 : -1;
}

static int ff_erase(void *ctx, uint32_t off, uint32_t n) {
    file_flash *f = ctx;
    static uint8_t ones[MAX_SECTOR];
    memset(ones, 0xFF, sizeof ones);
    if ((uint64_t)off + n > f->size) return -1;
    for (uint32_t i = 0; i < n; i += sizeof ones) {
        uint32_t k = n - i < sizeof ones ? n - i : (uint32_t)sizeof ones;
        if (pwrite(f->fd, ones, k, off + i) != (ssize_t)k) return -1;
    }
    return 0;
}

static int ff_program(void *ctx, uint32_t off, const uint8_t *data, uint32_t n) {
    file_flash *f = ctx;
    static uint8_t cur[MAX_SECTOR];
    if ((uint64_t)off + n > f->size || n > sizeof cur) return -1;
    if (pread(f->fd, cur, n, off) != (ssize_t)n) return -1;
    for (uint32_t i = 0; i < n; i++) cur[i] &= data[i];   /* NOR: program only clears bits */
    uint32_t w = n;
    if (f->cut_after >= 0 && f->cut_after-- == 0) w = n / 2;
    if (pwrite(f->fd, cur, w, off) != (ssize_t)w) return -1;
    if (w != n) {
        fprintf(stderr, "thm_link_host: power cut after %u of %u bytes at 0x%x\n", w, n, off);
        _exit(3);
    }
    return 0;
}

typedef struct {
    int fd;
} sock_port;

static int sp_read(void *ctx, uint8_t *buf, uint32_t cap, uint32_t timeout_ms) {
    sock_port *p = ctx;
    struct pollfd pfd = {p->fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : -1;
    if (r == 0) return 0;
    ssize_t n = recv(p->fd, buf, cap, 0);
    return n > 0 ? (int)n : -1;
}

static int sp_write(void *ctx, const uint8_t *buf, uint32_t n) {
    sock_port *p = ctx;
    while (n) {
        ssize_t k = send(p->fd, buf, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        buf += k;
        n -= (uint32_t)k;
    }
    return 0;
}

static int run_hash(void *ctx, const thm_link_run_in *in, thm_link_run_out *out) {
    thm_link_flash *fl = ctx;
    if (in->slot < 0) return -1;
    thm_sha256_ctx c;
    uint8_t buf[4096], d[32];
    thm_sha256_init(&c);
    for (uint32_t i = 0; i < in->image_size; i += sizeof buf) {
        uint32_t k = in->image_size - i < sizeof buf ? in->image_size - i : (uint32_t)sizeof buf;
        if (fl->read(fl->ctx, in->image_offset + i, buf, k)) return -1;
        if (i == 0 && k >= 64) memset(buf + 32, 0, 32);
        thm_sha256_update(&c, buf, k);
    }
    thm_sha256_final(&c, d);
    uint32_t n = 0;
    for (int i = 0; i < 32; i++) n += (uint32_t)snprintf((char *)out->out + n, 3, "%02x", d[i]);
    out->out[n++] = ':';
    uint32_t k = in->request_len < THM_LINK_MAX_OUTPUT - n ? in->request_len : THM_LINK_MAX_OUTPUT - n;
    memcpy(out->out + n, in->request, k);
    out->out_len = n + k;
    out->prompt_tokens = in->request_len;
    out->gen_tokens = 0;
    out->prefill_insns = 1000u * in->request_len;
    out->insns_per_token = 77;
    return 0;
}

static unsigned long arg_num(const char *s, unsigned long max) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || *end || v > max) {
        fprintf(stderr, "thm_link_host: bad number %s (max %lu)\n", s, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    const char *path = NULL, *board = "host";
    unsigned long size = 1u << 20, sector = 4096, port = 0, slots = 2;
    long cut = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "thm_link_host: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--flash")) path = v;
        else if (!strcmp(a, "--flash-size")) size = arg_num(v, MAX_FLASH);
        else if (!strcmp(a, "--sector")) sector = arg_num(v, MAX_SECTOR);
        else if (!strcmp(a, "--slots")) slots = arg_num(v, THM_LINK_MAX_SLOTS);
        else if (!strcmp(a, "--port")) port = arg_num(v, 65535);
        else if (!strcmp(a, "--board")) board = v;
        else if (!strcmp(a, "--cut-after-programs")) cut = (long)arg_num(v, 1u << 30);
        else { fprintf(stderr, "thm_link_host: unknown option %s\n", a); return 2; }
        i++;
    }
    if (!path) { fprintf(stderr, "usage: thm_link_host --flash FILE [options]\n"); return 2; }
    file_flash ff = {open(path, O_RDWR | O_CREAT, 0644), (uint32_t)size, cut};
    if (ff.fd < 0) { perror(path); return 1; }
    off_t have = lseek(ff.fd, 0, SEEK_END);
    if (have < (off_t)size) {   /* a new flash reads erased */
        uint8_t ones[4096];
        memset(ones, 0xFF, sizeof ones);
        for (off_t o = have; o < (off_t)size; o += (off_t)sizeof ones) {
            size_t k = (size_t)((off_t)size - o) < sizeof ones ? (size_t)((off_t)size - o) : sizeof ones;
            if (pwrite(ff.fd, ones, k, o) != (ssize_t)k) { perror(path); return 1; }
        }
    }
    thm_link_flash fl = {&ff, (uint32_t)size, (uint32_t)sector, (uint32_t)slots, ff_erase, ff_program, ff_read};
    static uint8_t sector_buf[MAX_SECTOR];
    static thm_link_server srv;
    sock_port sp = {-1};
    thm_link_port lp = {&sp, sp_read, sp_write};
    int e = thm_link_server_init(&srv, &lp, &fl, sector_buf, board, run_hash, &fl);
    if (e) { fprintf(stderr, "thm_link_host: flash unusable (%d): size/sector/slots geometry or I/O\n", e); return 1; }

    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    socklen_t alen = sizeof addr;
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&addr, &alen)) { perror("listen"); return 1; }
    printf("port %u\n", ntohs(addr.sin_port));
    fflush(stdout);
    for (;;) {
        sp.fd = accept(ls, NULL, NULL);
        if (sp.fd < 0) { if (errno == EINTR) continue; perror("accept"); return 1; }
        setsockopt(sp.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        thm_link_decoder_init(&srv.dec);      /* a new line starts with no partial frame */
        while (thm_link_server_poll(&srv, 200) >= 0) {}
        close(sp.fd);
    }
}
