; Privilege levels: IRET to ring 3, INT 0x80 through a DPL-3 interrupt gate with the stack switch from the
; TSS, SYSENTER/SYSEXIT, a call gate with a parameter, and what ring 3 may not do: privileged instructions,
; ports outside the TSS I/O bitmap, supervisor pages, DPL-0 gates, CLI with IOPL 0, misaligned accesses
; with alignment checking on (#AC).
%include "common.inc"

PD      equ 0x100000
PT0     equ 0x101000
USTACK  equ 0x80000
KSTACK  equ 0x90000
SSTACK  equ 0x8F000             ; SYSENTER stack

; results written by ring 0 handlers and by ring-3 code
r_int_cpl   equ var + 0x00
r_int_esp   equ var + 0x04
r_int_ss    equ var + 0x08
u_int_res   equ var + 0x0C
r_se_cs     equ var + 0x10
r_se_esp    equ var + 0x14
r_se_ss     equ var + 0x18
u_sx_cs     equ var + 0x1C
u_sx_esp    equ var + 0x20
r_cg_param  equ var + 0x24
r_cg_cs     equ var + 0x28
r_cg_oldss  equ var + 0x2C
u_cg_esp    equ var + 0x30
u_hlt_vec   equ var + 0x34
u_hlt_err   equ var + 0x38
u_io_ok     equ var + 0x3C
u_io_vec    equ var + 0x40
u_pf_vec    equ var + 0x44
u_pf_err    equ var + 0x48
u_gate_vec  equ var + 0x4C
u_gate_err  equ var + 0x50
u_cli_vec   equ var + 0x54
u_ac_vec    equ var + 0x58
u_ac_err    equ var + 0x5C
u_ac_ok     equ var + 0x60
u_ret_cs    equ var + 0x64
u_cpl       equ var + 0x68
u_ss_vec    equ var + 0x6C
u_ss_err    equ var + 0x70

gate_target:                    ; call gate target (ring 0): one dword parameter
    mov eax, [esp + 8]
    mov [r_cg_param], eax
    mov eax, [esp + 4]
    mov [r_cg_cs], eax
    mov eax, [esp + 16]
    mov [r_cg_oldss], eax
    retf 4

int80:                          ; DPL-3 interrupt gate: eax = eax * 3 + 1; eax = 0xDEAD returns to the kernel
    cmp eax, 0xDEAD
    je back_to_kernel
    push ebx
    mov ebx, [esp + 8]          ; interrupted CS
    and ebx, 3
    mov [r_int_cpl], ebx
    lea ebx, [esp + 4]
    mov [r_int_esp], ebx        ; ESP at entry: below the five-dword frame
    mov bx, ss
    movzx ebx, bx
    mov [r_int_ss], ebx
    pop ebx
    lea eax, [eax * 2 + eax + 1]
    iretd

sysenter_entry:
    mov ax, cs
    movzx eax, ax
    mov [r_se_cs], eax
    mov [r_se_esp], esp
    mov ax, ss
    movzx eax, ax
    mov [r_se_ss], eax
    sysexit                     ; back to EDX with ESP = ECX

test_main:
    ; identity paging with user access, except a supervisor-only page at 0x240000
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PD], PT0 | 7
    mov edi, PT0
    mov eax, 7
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    loop .fill
    mov dword [PT0 + (0x240000 >> 12) * 4], 0x240000 | 3
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80040000          ; PG, AM
    mov cr0, eax

    ; gates, MSRs, I/O bitmap (port 0x80 allowed)
    mov eax, int80
    mov ebx, 0x80
    mov edx, SEL_CODE0
    mov cl, 0xEE                ; 32-bit interrupt gate, DPL 3
    call set_gate
    and byte [TSS0 + 0x68 + 0x80 / 8], ~1
    mov ecx, 0x174
    mov eax, SEL_CODE0
    xor edx, edx
    wrmsr
    mov ecx, 0x175
    mov eax, SSTACK
    wrmsr
    mov ecx, 0x176
    mov eax, sysenter_entry
    wrmsr

    ; to ring 3
    push SEL_DATA3
    push USTACK
    push 0x2                    ; EFLAGS: IF = 0, IOPL = 0
    push SEL_CODE3
    push user_code
    mov ax, SEL_DATA3
    mov ds, ax
    mov es, ax
    iretd

back_to_kernel:
    mov esp, KSTACK - 4         ; the return address of "call test_main"
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    REPORT "int.cpl", [r_int_cpl]
    REPORT "int.esp", [r_int_esp]
    REPORT "int.ss", [r_int_ss]
    REPORT "int.result", [u_int_res]
    REPORT "se.cs", [r_se_cs]
    REPORT "se.esp", [r_se_esp]
    REPORT "se.ss", [r_se_ss]
    REPORT "sx.cs", [u_sx_cs]
    REPORT "sx.esp", [u_sx_esp]
    REPORT "cg.param", [r_cg_param]
    REPORT "cg.cs", [r_cg_cs]
    REPORT "cg.oldss", [r_cg_oldss]
    REPORT "cg.esp", [u_cg_esp]
    REPORT "hlt.vec", [u_hlt_vec]
    REPORT "hlt.err", [u_hlt_err]
    REPORT "io.ok", [u_io_ok]
    REPORT "io.vec", [u_io_vec]
    REPORT "pf.vec", [u_pf_vec]
    REPORT "pf.err", [u_pf_err]
    REPORT "gate.vec", [u_gate_vec]
    REPORT "gate.err", [u_gate_err]
    REPORT "cli.vec", [u_cli_vec]
    REPORT "ac.vec", [u_ac_vec]
    REPORT "ac.err", [u_ac_err]
    REPORT "ac.ok", [u_ac_ok]
    REPORT "user.cpl", [u_cpl]
    REPORT "ss.vec", [u_ss_vec]
    REPORT "ss.err", [u_ss_err]
    mov eax, cr0
    and eax, 0x7FFBFFFF
    mov cr0, eax
    ret

user_code:                      ; ring 3
    mov ax, cs
    and eax, 3
    mov [u_cpl], eax
    mov eax, 20
    int 0x80
    mov [u_int_res], eax

    mov ecx, esp
    mov edx, .after_sysexit
    sysenter
.after_sysexit:
    mov ax, cs
    movzx eax, ax
    mov [u_sx_cs], eax
    mov [u_sx_esp], esp

    push dword 0x1234
    call SEL_CGATE:0
    mov [u_cg_esp], esp

    EXPECT_FAULT .u1
    hlt
.u1:
    mov eax, [last_vec]
    mov [u_hlt_vec], eax
    mov eax, [last_err]
    mov [u_hlt_err], eax

    out 0x80, al
    mov dword [u_io_ok], 1
    EXPECT_FAULT .u2
    out 0x81, al
.u2:
    mov eax, [last_vec]
    mov [u_io_vec], eax

    EXPECT_FAULT .u3
    mov eax, [0x240000]
.u3:
    mov eax, [last_vec]
    mov [u_pf_vec], eax
    mov eax, [last_err]
    mov [u_pf_err], eax

    EXPECT_FAULT .u4
    int 0x81
.u4:
    mov eax, [last_vec]
    mov [u_gate_vec], eax
    mov eax, [last_err]
    mov [u_gate_err], eax

    EXPECT_FAULT .u5
    cli
.u5:
    mov eax, [last_vec]
    mov [u_cli_vec], eax

    mov eax, [0x1001]           ; misaligned, AC clear: allowed
    pushfd
    or dword [esp], 0x40000     ; EFLAGS.AC
    popfd
    mov eax, [0x1004]           ; aligned: allowed
    mov dword [u_ac_ok], 1
    EXPECT_FAULT .u6
    mov eax, [0x1002]
.u6:
    mov eax, [last_vec]
    mov [u_ac_vec], eax
    mov eax, [last_err]
    mov [u_ac_err], eax
    pushfd
    and dword [esp], ~0x40000
    popfd

    ; a push beyond the limit of a small stack segment: #SS(0), delivered on the ring-0 stack of the TSS
    EXPECT_FAULT .u7
    mov ax, SEL_SMALL3
    mov ss, ax
    mov esp, 0x1002
    push eax
.u7:
    mov ax, SEL_DATA3
    mov ss, ax
    mov esp, USTACK - 0x100
    mov eax, [last_vec]
    mov [u_ss_vec], eax
    mov eax, [last_err]
    mov [u_ss_err], eax

    mov eax, 0xDEAD
    int 0x80

%include "tail.inc"
