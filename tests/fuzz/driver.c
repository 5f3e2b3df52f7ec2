/* thimble's fuzz driver: a small coverage-guided mutation loop for harnesses
 * written against libFuzzer's interface (LLVMFuzzerTestOneInput, optional
 * LLVMFuzzerInitialize), so the same harness builds with clang
 * -fsanitize=fuzzer where clang is installed, and with gcc here.
 *
 * Coverage: the code under test is built with gcc's -fsanitize-coverage=
 * trace-pc, which calls __sanitizer_cov_trace_pc at every basic block; the
 * caller's address is hashed into a 64K map. An input that lights a new
 * entry joins the corpus (in memory, and in --keep DIR when given).
 * Seeded: the same seed, corpus and build run the same inputs (--runs).
 *
 *   harness [--seconds N] [--runs N] [--seed S] [--timeout S] [--out DIR] [--keep DIR] CORPUS...
 *   harness --replay FILE...        run each file once (regressions)
 *
 * CORPUS: files or folders of files. Every input runs under ASan and UBSan
 * (-fno-sanitize-recover=all): a finding ends the process, and the input is
 * first written to DIR/crash-<hash> (the sanitizer's death callback; a hang
 * past --timeout seconds is caught by SIGALRM and written as hang-<hash>).
 * The last line printed is "fuzz: N runs in S s, C corpus, E coverage". */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
/* libFuzzer's hook for structure-aware mutation: a harness that defines it
 * mutates its own inputs (and may call LLVMFuzzerMutate, below, for plain
 * byte edits), as under clang -fsanitize=fuzzer. */
__attribute__((weak)) size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
void __sanitizer_set_death_callback(void (*callback)(void));

#define MAP_SIZE (1u << 16)
#define FUZZ_MAX_INPUT (1u << 20)
#define MAX_CORPUS 4096

static uint8_t cov[MAP_SIZE], seen[MAP_SIZE];
static int tracing;

/* gcc -fsanitize-coverage=trace-pc: one call per basic block of the code under test */
void __sanitizer_cov_trace_pc(void)
{
    if (!tracing) return;
    /* relative to this function, which is linked into the same executable:
     * the map index must not depend on where ASLR loaded the program, or the
     * same seed would grow a different corpus on every run */
    uintptr_t pc = (uintptr_t)__builtin_return_address(0) - (uintptr_t)&__sanitizer_cov_trace_pc;
    cov[(pc ^ (pc >> 15)) & (MAP_SIZE - 1)] = 1;
}

typedef struct { uint8_t *data; size_t size; } input;
static input corpus[MAX_CORPUS];
static size_t n_corpus;
static const char *out_dir = ".", *keep_dir;
static const uint8_t *current;
static size_t current_size;

static uint64_t rng_state;
static uint64_t rnd(void)   /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static uint64_t fnv(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 1099511628211ULL;
    return h;
}

/* async-signal-safe: open/write/close only */
static void save(const char *kind, const uint8_t *d, size_t n)
{
    char path[4096];
    uint64_t h = fnv(d, n);
    snprintf(path, sizeof path, "%s/%s-%016llx", kind[0] == 'k' ? keep_dir : out_dir, kind,
             (unsigned long long)h);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    while (n) {
        ssize_t w = write(fd, d, n);
        if (w <= 0) break;
        d += w;
        n -= (size_t)w;
    }
    close(fd);
    if (kind[0] != 'k') {
        static const char msg[] = "fuzz: input saved as ";
        (void)!write(2, msg, sizeof msg - 1);
        (void)!write(2, path, strlen(path));
        (void)!write(2, "\n", 1);
    }
}

static void on_death(void) { if (current) save("crash", current, current_size); }
/* UBSan (gcc's libubsan is apart from ASan's death callback) and the
 * harnesses' own invariants end in abort(): save the input, then die of it. */
const char *__ubsan_default_options(void) { return "abort_on_error=1:print_stacktrace=1:halt_on_error=1"; }
static void on_abort(int sig)
{
    if (current) save("crash", current, current_size);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    if (current) save("hang", current, current_size);
    static const char msg[] = "fuzz: an input ran past --timeout\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static void add(const uint8_t *d, size_t n)
{
    if (n_corpus == MAX_CORPUS || n > FUZZ_MAX_INPUT) return;
    corpus[n_corpus].data = malloc(n ? n : 1);
    memcpy(corpus[n_corpus].data, d, n);
    corpus[n_corpus++].size = n;
}

static void load(const char *path)
{
    struct stat st;
    if (stat(path, &st)) { fprintf(stderr, "fuzz: %s: no such file or folder\n", path); exit(2); }
    if (S_ISDIR(st.st_mode)) {
        struct dirent **names;
        int k = scandir(path, &names, 0, alphasort);     /* sorted: the same order every run */
        for (int i = 0; i < k; i++) {
            if (names[i]->d_name[0] != '.') {
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
                load(sub);
            }
            free(names[i]);
        }
        free(names);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "fuzz: %s: cannot read\n", path); exit(2); }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    size_t n = fread(buf, 1, FUZZ_MAX_INPUT, f);
    fclose(f);
    add(buf, n);
    free(buf);
}

static const uint32_t interesting[] = {0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                                       0x7FFFFFFF, 0x80000000u, 0xFFFFFFFFu, 0xFFFFFFFEu, 1u << 20, 1u << 24};

/* 1 to 4 edits of a corpus input into buf (max bytes at most); returns the new size */
static size_t mutate(uint8_t *buf, size_t n, size_t max)
{
    int edits = 1 + (int)below(4);
    for (int e = 0; e < edits; e++) {
        switch (below(7)) {
        case 0: if (n) buf[below(n)] ^= (uint8_t)(1u << below(8)); break;
        case 1: if (n) buf[below(n)] = (uint8_t)rnd(); break;
        case 2: if (n >= 4) {                         /* a little-endian field set to an edge value */
                    uint32_t v = interesting[below(sizeof interesting / sizeof interesting[0])];
                    size_t at = below(n - 3), w = below(3) == 0 ? 2 : 4;
                    for (size_t k = 0; k < w && at + k < n; k++) buf[at + k] = (uint8_t)(v >> (8 * k));
                } break;
        case 3: if (n < max) {                        /* insert a byte */
                    size_t at = below(n + 1);
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (uint8_t)rnd();
                    n++;
                } break;
        case 4: if (n > 1) {                          /* erase a range */
                    size_t at = below(n), len = 1 + below(n - at < 64 ? n - at : 64);
                    memmove(buf + at, buf + at + len, n - at - len);
                    n -= len;
                } break;
        case 5: if (n > 1) {                          /* copy a range over another */
                    size_t from = below(n), to = below(n), len = 1 + below(32);
                    if (from + len > n) len = n - from;
                    if (to + len > n) len = n - to;
                    memmove(buf + to, buf + from, len);
                } break;
        case 6: if (n_corpus > 1) {                   /* splice: the tail of another input */
                    const input *o = &corpus[below(n_corpus)];
                    size_t at = below(n + 1), from = below(o->size + 1), len = o->size - from;
                    if (at > max) at = max;
                    if (at + len > max) len = max - at;
                    memcpy(buf + at, o->data + from, len);
                    n = at + len;
                } break;
        }
    }
    return n;
}

/* libFuzzer's byte mutator, for custom mutators */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
{
    if (max_size > FUZZ_MAX_INPUT) max_size = FUZZ_MAX_INPUT;
    return mutate(data, size < max_size ? size : max_size, max_size);
}

static int run_one(const uint8_t *d, size_t n, unsigned timeout)
{
    memset(cov, 0, sizeof cov);
    current = d;
    current_size = n;
    alarm(timeout);
    tracing = 1;
    LLVMFuzzerTestOneInput(d, n);
    tracing = 0;
    alarm(0);
    int fresh = 0;
    for (uint32_t i = 0; i < MAP_SIZE; i++)
        if (cov[i] && !seen[i]) { seen[i] = 1; fresh++; }
    return fresh;
}

static uint32_t coverage(void)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < MAP_SIZE; i++) c += seen[i];
    return c;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    unsigned long long runs = 0, seed = 1;
    unsigned timeout = 10;
    int replay = 0, first = 1;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = strtoull(argv[++i], 0, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], 0, 10);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep_dir = argv[++i];
        else if (!strcmp(argv[i], "--replay")) replay = 1;
        else if (argv[i][0] == '-') { fprintf(stderr, "fuzz: unknown option %s\n", argv[i]); return 2; }
        else { if (first) first = 0; load(argv[i]); }
    }
    if (!n_corpus) { fprintf(stderr, "fuzz: no inputs (give corpus files or folders)\n"); return 2; }
    __sanitizer_set_death_callback(on_death);
    signal(SIGALRM, on_alarm);
    signal(SIGABRT, on_abort);
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    size_t seeds = n_corpus;
    for (size_t i = 0; i < seeds; i++) run_one(corpus[i].data, corpus[i].size, timeout);
    if (replay) {
        printf("fuzz: replayed %zu inputs\n", seeds);
        return 0;
    }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long done = 0;
    double elapsed = 0;
    while (runs ? done < runs : elapsed < seconds) {
        const input *base = &corpus[below(n_corpus)];
        memcpy(buf, base->data, base->size);
        size_t n = LLVMFuzzerCustomMutator ? LLVMFuzzerCustomMutator(buf, base->size, FUZZ_MAX_INPUT, (unsigned)rnd())
                                           : mutate(buf, base->size, FUZZ_MAX_INPUT);
        if (n > FUZZ_MAX_INPUT) n = FUZZ_MAX_INPUT;
        if (run_one(buf, n, timeout)) {
            add(buf, n);
            if (keep_dir) save("keep", buf, n);
        }
        done++;
        if ((done & 63) == 0 || runs) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            elapsed = (double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    elapsed = (double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec);
    printf("fuzz: %llu runs in %.1f s, %zu corpus (%zu seeds), %u coverage\n", done, elapsed, n_corpus, seeds,
           coverage());
    free(buf);
    return 0;
}
