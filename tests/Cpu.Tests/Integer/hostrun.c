/* Runs machine-code stubs on this host, for Cpu.Tests/Integer/HostIntegerTests.cs.
   Input lines: "STUBHEX v0 v1 ... v7" where STUBHEX is x86-64 code that takes a pointer to eight 32-bit
   values (EAX EBX ECX EDX ESI EDI EBP EFLAGS) in RDI, loads them, runs one instruction and stores them
   back. Output: the eight values, or "fault SIGNAL" when the instruction trapped (e.g. #DE). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf env;
static void on_signal(int sig) { siglongjmp(env, sig); }

int main(void) {
    static char line[8192];
    uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { perror("mmap"); return 2; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    while (fgets(line, sizeof line, stdin)) {
        char *p = line;
        size_t n = 0;
        while (*p && *p != ' ') {
            unsigned b;
            if (sscanf(p, "%2x", &b) != 1) return 2;
            code[n++] = (uint8_t)b;
            p += 2;
        }
        uint32_t v[8];
        for (int k = 0; k < 8; k++) v[k] = (uint32_t)strtoul(p, &p, 16);
        __builtin___clear_cache((char *)code, (char *)code + n);
        int sig = sigsetjmp(env, 1);
        if (sig == 0) {
            ((void (*)(uint32_t *))code)(v);
            printf("%x %x %x %x %x %x %x %x\n", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        } else {
            printf("fault %d\n", sig);
        }
        fflush(stdout);
    }
    return 0;
}
