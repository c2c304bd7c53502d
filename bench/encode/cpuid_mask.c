// An LD_PRELOAD shim that makes this process (and every process it execs with the same environment)
// see an AVX2-only x86-64 CPU: no AVX-512 of any kind, no AMX, no AVX-VNNI, no AVX512_BF16/FP16.
// Why a shim: SPLADE_CPU=avx2 restricts splade only, while a peer in the same process (onnxruntime-node)
// keeps its AVX-512 and AMX kernels; masking CPUID restricts everything that asks the CPU, so both run
// as they would on an AVX2-only machine.
//
// How: Linux's CPUID faulting (arch_prctl(ARCH_SET_CPUID, 0); /proc/cpuinfo flag cpuid_fault) makes
// every `cpuid` instruction of this thread, and of threads it creates later, raise SIGSEGV. The handler
// checks that the faulting instruction is `cpuid` (0f a2), runs the real one with faulting briefly off
// for this thread, clears the bits below, writes eax..edx into the interrupted context and steps over
// the instruction. Any other SIGSEGV goes to the handler the program installed (or the default: a crash
// as usual). The program's own sigaction/signal calls for SIGSEGV are interposed (Node resets every
// signal's disposition at start-up, then installs its WebAssembly trap handler): they record the
// program's handler, to be chained to, and leave this one installed.
// The setting is reset by execve; the constructor runs again in every exec'd child that inherits
// LD_PRELOAD. glibc reads CPUID before any constructor runs: GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,...
// (set by bench/encode/cpuid_mask.ts) keeps its string functions off AVX-512.
// Not masked: XGETBV (XCR0 still enables the ZMM and tile state), so code that trusts XCR0 without
// CPUID would still see AVX-512 state; none of the programs measured does.
// SPLADE_CPUID_MASK_QUIET=1 silences the one line printed to stderr when faulting cannot be enabled.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

typedef int (*sigaction_fn)(int, const struct sigaction*, struct sigaction*);
static struct sigaction previous;  // the program's SIGSEGV disposition, as it believes it installed it
static int installed;

static sigaction_fn real_sigaction(void) {
  static sigaction_fn real;
  if (!real) real = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
  return real;
}

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig != SIGSEGV || !installed) return real_sigaction()(sig, act, old);
  struct sigaction was = previous;
  if (act) previous = *act;
  if (old) *old = was;
  return 0;
}

sighandler_t signal(int sig, sighandler_t handler) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, &old) == 0 ? old.sa_handler : SIG_ERR;
}

static long set_cpuid(int enabled) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

// Bits cleared, by leaf and subleaf (Intel SDM vol. 2A, CPUID; AMD APM vol. 3).
static void mask(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  enum { A, B, C, D };
  if (leaf == 7 && sub == 0) {
    // EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31
    r[B] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
    // ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14
    r[C] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
    // EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, AVX512_FP16 23, AMX-TILE 24, AMX-INT8 25
    r[D] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
  } else if (leaf == 7 && sub == 1) {
    // EAX: AVX-VNNI 4, AVX512_BF16 5, AMX-FP16 21, AVX-IFMA 23
    r[A] &= ~((1u << 4) | (1u << 5) | (1u << 21) | (1u << 23));
    // EDX: AVX-VNNI-INT8 4, AVX-NE-CONVERT 5, AMX-COMPLEX 8, AVX-VNNI-INT16 10, AVX10 19
    r[D] &= ~((1u << 4) | (1u << 5) | (1u << 8) | (1u << 10) | (1u << 19));
  } else if (leaf == 0xd && sub == 0) {
    // EAX: the XSAVE state components supported: opmask 5, ZMM_Hi256 6, Hi16_ZMM 7, XTILECFG 17, XTILEDATA 18
    r[A] &= ~((1u << 5) | (1u << 6) | (1u << 7) | (1u << 17) | (1u << 18));
  } else if (leaf == 0x1d || leaf == 0x1e || leaf == 0x24) {
    r[A] = r[B] = r[C] = r[D] = 0;  // AMX tile and TMUL information, AVX10 information
  }
}

static void on_segv(int sig, siginfo_t* info, void* context) {
  ucontext_t* uc = (ucontext_t*)context;
  greg_t* g = uc->uc_mcontext.gregs;
  const unsigned char* ip = (const unsigned char*)g[REG_RIP];
  // si_code SI_KERNEL: a #GP, which is how a faulting cpuid arrives (a bad address gives SEGV_MAPERR/ACCERR,
  // and then ip may not be readable safely, so it is not read).
  if (info->si_code == SI_KERNEL && ip[0] == 0x0f && ip[1] == 0xa2) {
    uint32_t r[4];
    const uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
    set_cpuid(1);
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
    set_cpuid(0);
    mask(leaf, sub, r);
    g[REG_RAX] = r[0], g[REG_RBX] = r[1], g[REG_RCX] = r[2], g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
    return;
  }
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  } else {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    installed = 0;
    real_sigaction()(SIGSEGV, &dfl, NULL);  // returning re-runs the instruction, which now crashes as it would have
  }
}

__attribute__((constructor)) static void cpuid_mask_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (real_sigaction()(SIGSEGV, &sa, &previous) != 0) return;
  if (set_cpuid(0) != 0) {
    const char* quiet = getenv("SPLADE_CPUID_MASK_QUIET");
    if (!quiet || strcmp(quiet, "1") != 0) fprintf(stderr, "cpuid_mask: CPUID faulting is not available; the CPU is not masked\n");
    real_sigaction()(SIGSEGV, &previous, NULL);
    return;
  }
  installed = 1;
}
