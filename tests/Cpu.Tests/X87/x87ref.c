/* Reference results from the host's own x87 unit, for Cpu.Tests/X87/HostX87Tests.cs.
   Reads lines "op cw a_signexp a_mantissa b_signexp b_mantissa" (hex), loads b then a (a in ST(0),
   b in ST(1)) under control word cw, executes the operation and prints "signexp mantissa sw" for
   extended results, or "raw sw" (the stored bytes as a hex integer) for stores to memory. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

typedef struct { uint64_t m; uint16_t se; } __attribute__((packed)) f80;

#define PRE  ".intel_syntax noprefix\n\tfninit\n\tfldcw word ptr [%4]\n\tfld tbyte ptr [%1]\n\tfld tbyte ptr [%0]\n\t"
#define POSTX "\n\tfnstsw word ptr [%3]\n\tfstp tbyte ptr [%2]\n\tfninit\n\t.att_syntax prefix\n"
#define POSTM "\n\tfnstsw word ptr [%3]\n\tfninit\n\t.att_syntax prefix\n"
#define ARGS :: "r"(a), "r"(b), "r"(r), "r"(sw), "r"(&cw) : "memory"

int main(void) {
    char op[16];
    unsigned cw_in, ase, bse;
    unsigned long long am, bm;
    while (scanf("%15s %x %x %llx %x %llx", op, &cw_in, &ase, &am, &bse, &bm) == 6) {
        f80 av = { am, (uint16_t)ase }, bv = { bm, (uint16_t)bse };
        const f80 *a = &av, *b = &bv;
        unsigned char out[16] = {0};
        unsigned char *r = out;
        uint16_t swv = 0, *sw = &swv;
        uint16_t cw = (uint16_t)cw_in;
        int ext = 1;
        if (!strcmp(op, "add")) __asm__ volatile (PRE "fadd st(0), st(1)" POSTX ARGS);
        else if (!strcmp(op, "sub")) __asm__ volatile (PRE "fsub st(0), st(1)" POSTX ARGS);
        else if (!strcmp(op, "mul")) __asm__ volatile (PRE "fmul st(0), st(1)" POSTX ARGS);
        else if (!strcmp(op, "div")) __asm__ volatile (PRE "fdiv st(0), st(1)" POSTX ARGS);
        else if (!strcmp(op, "sqrt")) __asm__ volatile (PRE "fsqrt" POSTX ARGS);
        else if (!strcmp(op, "rndint")) __asm__ volatile (PRE "frndint" POSTX ARGS);
        else if (!strcmp(op, "prem")) __asm__ volatile (PRE "fprem" POSTX ARGS);
        else if (!strcmp(op, "prem1")) __asm__ volatile (PRE "fprem1" POSTX ARGS);
        else if (!strcmp(op, "scale")) __asm__ volatile (PRE "fscale" POSTX ARGS);
        else if (!strcmp(op, "com")) __asm__ volatile (PRE "fcom st(1)" POSTX ARGS);
        else if (!strcmp(op, "ucom")) __asm__ volatile (PRE "fucom st(1)" POSTX ARGS);
        else if (!strcmp(op, "sin")) __asm__ volatile (PRE "fsin" POSTX ARGS);
        else if (!strcmp(op, "cos")) __asm__ volatile (PRE "fcos" POSTX ARGS);
        else if (!strcmp(op, "tan")) __asm__ volatile (PRE "fptan\n\tfstp st(0)" POSTX ARGS);
        else if (!strcmp(op, "atan")) __asm__ volatile (PRE "fxch\n\tfpatan" POSTX ARGS);
        else if (!strcmp(op, "f2xm1")) __asm__ volatile (PRE "f2xm1" POSTX ARGS);
        else if (!strcmp(op, "yl2x")) __asm__ volatile (PRE "fyl2x" POSTX ARGS);
        else if (!strcmp(op, "yl2xp1")) __asm__ volatile (PRE "fyl2xp1" POSTX ARGS);
        else {
            ext = 0;
            if (!strcmp(op, "st64")) __asm__ volatile (PRE "fst qword ptr [%2]" POSTM ARGS);
            else if (!strcmp(op, "st32")) __asm__ volatile (PRE "fst dword ptr [%2]" POSTM ARGS);
            else if (!strcmp(op, "ist16")) __asm__ volatile (PRE "fist word ptr [%2]" POSTM ARGS);
            else if (!strcmp(op, "ist32")) __asm__ volatile (PRE "fist dword ptr [%2]" POSTM ARGS);
            else if (!strcmp(op, "ist64")) __asm__ volatile (PRE "fistp qword ptr [%2]" POSTM ARGS);
            else { fprintf(stderr, "unknown op %s\n", op); return 2; }
        }
        if (ext) {
            f80 res;
            memcpy(&res, out, 10);
            printf("%04x %016llx %04x\n", res.se, (unsigned long long)res.m, swv);
        } else {
            unsigned long long raw;
            memcpy(&raw, out, 8);
            printf("%016llx %04x\n", raw, swv);
        }
        fflush(stdout);
    }
    return 0;
}
