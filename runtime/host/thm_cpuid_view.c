/* A CPU view for benchmarks: this shared object, preloaded (LD_PRELOAD) into
 * a process, makes the CPUID instruction report fewer features than the CPU
 * has, so that every library in the process (numpy and its OpenBLAS,
 * onnxruntime's MLAS, thimble's own dispatch) picks the kernels it would pick
 * on a smaller CPU: `thimble bench model --cpu avx2` measures an AVX2-only
 * machine on an AVX-512/AMX host (runtime/thimble/bench/cpu_view.py, which
 * owns the table of what each view clears).
 *
 * How: Linux's arch_prctl(ARCH_SET_CPUID, 0) makes CPUID fault (Intel's CPUID
 * faulting; /proc/cpuinfo lists it as cpuid_fault) in this thread and in every
 * thread or child it clones (execve resets it, hence the preload). The SIGSEGV
 * handler below recognises the faulting instruction (0F A2), runs the real
 * CPUID with faulting briefly off, clears the bits the view names and steps
 * over the instruction. Any other SIGSEGV gets the default action back and
 * faults again (or, sent by kill, is raised again), so a crash still crashes.
 * The handler blocks every signal while it runs, so no other handler sees
 * the real CPUID in the moment faulting is off.
 *
 * What it reads: THIMBLE_CPUID_CLEAR, a comma-separated list of
 * LEAF:SUBLEAF:REG:MASK (hex or decimal numbers, REG one of eax ebx ecx edx),
 * at most THM_VIEW_MAX entries. Unset: the object does nothing. Malformed, or
 * a kernel that cannot fault CPUID: one line on stderr and exit status 3,
 * before main, so a benchmark never runs on a view it did not get.
 *
 * What it cannot hide: XGETBV (the OS's saved-state mask) and instructions
 * themselves; software that checks CPUID first, as all of the above do, never
 * reaches them. glibc chose its string functions from CPUID before this
 * object loaded: the caller sets GLIBC_TUNABLES for those. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define THM_ARCH_SET_CPUID 0x1012   /* <asm/prctl.h>; not in every libc's headers */
#define THM_VIEW_MAX 16

typedef struct {
    uint32_t leaf, sub, mask;
    int reg;                        /* 0 eax, 1 ebx, 2 ecx, 3 edx */
} thm_view_rule;

static thm_view_rule thm_rules[THM_VIEW_MAX];
static int thm_nrules;

static int thm_set_cpuid(int enabled)
{
    return (int)syscall(SYS_arch_prctl, THM_ARCH_SET_CPUID, (unsigned long)enabled);
}

static void thm_say(const char *a, const char *b)
{
    /* write(2) only: this runs before main and inside a signal handler */
    ssize_t r = write(2, "thimble cpu view: ", 18);
    r = write(2, a, strlen(a));
    if (b) r = write(2, b, strlen(b));
    r = write(2, "\n", 1);
    (void)r;
}

static void thm_on_segv(int sig, siginfo_t *si, void *vctx)
{
    (void)si;
    ucontext_t *uc = (ucontext_t *)vctx;
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    /* a fault at an unreadable address would fault here again: the kernel
     * reports CPUID faults with the instruction mapped, so only read it when
     * the fault was not a plain memory error (si_code SI_KERNEL for CPUID) */
    if (si->si_code != SI_KERNEL || ip[0] != 0x0F || ip[1] != 0xA2) {
        signal(sig, SIG_DFL);       /* a real fault: let it happen again, unhandled */
        if (si->si_code <= 0) raise(sig);   /* sent (kill, raise): nothing would fault again */
        return;
    }
    const uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
    uint32_t r[4];
    thm_set_cpuid(1);
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
    thm_set_cpuid(0);
    for (int i = 0; i < thm_nrules; i++)
        if (thm_rules[i].leaf == leaf && thm_rules[i].sub == sub) r[thm_rules[i].reg] &= ~thm_rules[i].mask;
    g[REG_RAX] = r[0];
    g[REG_RBX] = r[1];
    g[REG_RCX] = r[2];
    g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
}

/* One number of a rule, up to `end`: hex (0x...) or decimal (a leading 0 is
 * not octal), fitting 32 bits. */
static int thm_number(const char **s, char end, uint32_t *out)
{
    const char *p = *s;
    if (*p < '0' || *p > '9') return 0;
    const int hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    if (hex && !((p[2] >= '0' && p[2] <= '9') || (p[2] >= 'a' && p[2] <= 'f') || (p[2] >= 'A' && p[2] <= 'F')))
        return 0;
    errno = 0;
    char *e;
    const unsigned long long v = strtoull(p, &e, hex ? 16 : 10);
    if (errno || e == p || v > 0xFFFFFFFFull || *e != end) return 0;
    *out = (uint32_t)v;
    *s = e;
    return 1;
}

static int thm_parse(const char *s)
{
    static const char *regs[4] = {"eax", "ebx", "ecx", "edx"};
    while (*s) {
        if (thm_nrules == THM_VIEW_MAX) return 0;
        thm_view_rule *r = &thm_rules[thm_nrules];
        if (!thm_number(&s, ':', &r->leaf)) return 0;
        s++;
        if (!thm_number(&s, ':', &r->sub)) return 0;
        s++;
        r->reg = -1;
        for (int i = 0; i < 4; i++)
            if (!strncmp(s, regs[i], 3) && s[3] == ':') r->reg = i;
        if (r->reg < 0) return 0;
        s += 4;
        const char *start = s;
        const char *comma = strchr(s, ',');
        if (!thm_number(&s, comma ? ',' : '\0', &r->mask) || s == start) return 0;
        thm_nrules++;
        if (*s == ',') {
            s++;
            if (!*s) return 0;          /* a trailing comma */
        }
    }
    return thm_nrules > 0;
}

__attribute__((constructor)) static void thm_cpuid_view_init(void)
{
    const char *spec = getenv("THIMBLE_CPUID_CLEAR");
    if (!spec) return;
    if (!thm_parse(spec)) {
        thm_say("THIMBLE_CPUID_CLEAR is not a list of LEAF:SUBLEAF:REG:MASK (at most 16): ", spec);
        _exit(3);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = thm_on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, 0)) {
        thm_say("cannot install the SIGSEGV handler", 0);
        _exit(3);
    }
    if (thm_set_cpuid(0)) {
        thm_say("this CPU or kernel cannot make CPUID fault (arch_prctl ARCH_SET_CPUID: ", strerror(errno));
        _exit(3);
    }
}
