; A double fault delivered through a task gate (SDM Vol. 3, 6.15 interrupt 8 and 7.3): a page fault whose
; delivery faults again because the stack page is not present gives #DF; IDT vector 8 is a task gate, so the
; processor saves the state in the current TSS and switches to the second task, as Linux's i386 double-fault
; handler expects. The handler task reports what it finds.
%include "common.inc"

PD      equ 0x100000
PT0     equ 0x101000

gate_target:
    retf

test_main:
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PD], PT0 | 3
    mov edi, PT0
    mov eax, 3
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    loop .fill
    mov dword [PT0 + (0x380000 >> 12) * 4], 0     ; not present
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax

    ; the double-fault task
    mov edi, TSS1
    mov ecx, 0x68 / 4
    xor eax, eax
    rep stosd
    mov dword [TSS1 + 0x1C], PD                   ; CR3
    mov dword [TSS1 + 0x20], df_task              ; EIP
    mov dword [TSS1 + 0x24], 2                    ; EFLAGS
    mov dword [TSS1 + 0x38], 0x70000              ; ESP
    mov dword [TSS1 + 0x48], SEL_DATA0            ; ES
    mov dword [TSS1 + 0x4C], SEL_CODE0            ; CS
    mov dword [TSS1 + 0x50], SEL_DATA0            ; SS
    mov dword [TSS1 + 0x54], SEL_DATA0            ; DS
    mov dword [TSS1 + 0x58], SEL_DATA0            ; FS
    mov dword [TSS1 + 0x5C], SEL_DATA0            ; GS
    xor eax, eax
    mov ebx, 8
    mov edx, SEL_TSS1
    mov cl, 0x85                                  ; task gate, DPL 0
    call set_gate

    mov esp, 0x381000                             ; the stack page is not present
.fault:
    mov eax, [0x380000]                           ; #PF, whose delivery faults: #DF
    mov esi, survived
    call puts
    jmp finish
survived: db "no double fault", 10, 0

df_task:
    xor eax, eax
    str ax
    REPORT "df.tr", eax
    REPORT "df.link", [TSS1]
    REPORT "df.err", [esp]
    REPORT "df.esp", esp
    pushfd
    pop eax
    shr eax, 14
    and eax, 1
    REPORT "df.nt", eax
    mov eax, cr2
    REPORT "df.cr2", eax
    mov eax, [TSS0 + 0x20]
    sub eax, test_main.fault
    REPORT "df.old.eip", eax
    REPORT "df.old.esp", [TSS0 + 0x38]
    movzx eax, byte [GDT_BASE + SEL_TSS0 + 5]
    REPORT "df.tss0.type", eax
    movzx eax, byte [GDT_BASE + SEL_TSS1 + 5]
    REPORT "df.tss1.type", eax
    mov eax, cr0
    shr eax, 3
    and eax, 1
    REPORT "df.cr0.ts", eax
    mov ax, cs
    movzx eax, ax
    REPORT "df.cs", eax
    jmp finish

%include "tail.inc"
