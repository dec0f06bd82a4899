; 16-bit protected mode and the LDT: a data segment reached through an LDT selector, a far jump into a
; 16-bit code segment, INT through a 16-bit interrupt gate with its 16-bit frame and IRET, and a 32-bit far
; jump back (SDM Vol. 3, 3.5.1 and 6.11; Vol. 2, IRET with 16-bit operand size).
%include "common.inc"

gate_target:
    retf

test_main:
    ; LDT entry 1: data, base 0x12340, limit 0xFFF
    mov edi, LDT_BASE
    mov ecx, 8
    xor eax, eax
    rep stosd
    mov dword [LDT_BASE + 8], 0x2340_0FFF
    mov dword [LDT_BASE + 12], 0x0000_9201
    mov ax, SEL_LDT
    lldt ax
    xor eax, eax
    sldt ax
    REPORT "ldtr", eax
    mov ax, 0x0C                                ; index 1, TI = 1, RPL 0
    mov es, ax
    mov word [es:0x10], 0x55AA
    movzx eax, word [0x12350]
    REPORT "ldt.write", eax
    EXPECT_FAULT .l1
    mov al, [es:0x1000]                         ; beyond the LDT segment's limit
.l1:
    REPORT "ldt.limit.vec", [last_vec]
    EXPECT_FAULT .l2
    mov ax, 0x1C                                ; index 3: beyond the LDT limit (0x1F)
    mov es, ax
.l2:
    REPORT "ldt.sel.vec", [last_vec]
    REPORT "ldt.sel.err", [last_err]
    mov ax, SEL_DATA0
    mov es, ax

    ; a 16-bit interrupt gate (type 6) into the 16-bit code segment
    mov eax, handler16 - 0xF0000
    mov ebx, 0x31
    mov edx, SEL_CODE16
    mov cl, 0x86
    call set_gate
    mov [var + 0x20], esp
    jmp SEL_CODE16:code16 - 0xF0000

bits 16
code16:
    mov ax, SEL_DATA16
    mov ss, ax
    mov sp, 0x6000
    mov ds, ax
    mov word [var + 0x10], 0
    mov ax, 0x1234
    int 0x31
.after_int:
    mov [var + 0x12], ax                        ; the handler's result
    mov [var + 0x14], sp                        ; SP after IRET
    pushf
    pop word [var + 0x16]
    jmp dword SEL_CODE0:back32

handler16:
    mov [var + 0x18], sp                        ; SP at entry: 0x6000 - 6
    mov bx, sp
    mov cx, [ss:bx + 2]
    mov [var + 0x1A], cx                        ; pushed CS
    mov cx, [ss:bx]
    mov [var + 0x1C], cx                        ; pushed IP
    pushf
    pop word [var + 0x1E]                       ; IF cleared by the interrupt gate
    add ax, 0x1111
    iret

bits 32
back32:
    mov ax, SEL_DATA0
    mov ds, ax
    mov ss, ax
    mov esp, [var + 0x20]
    movzx eax, word [var + 0x12]
    REPORT "int16.ax", eax
    movzx eax, word [var + 0x14]
    REPORT "int16.sp.after", eax
    movzx eax, word [var + 0x18]
    REPORT "int16.sp.entry", eax
    movzx eax, word [var + 0x1A]
    REPORT "int16.cs", eax
    movzx eax, word [var + 0x1C]
    sub eax, code16.after_int - 0xF0000
    REPORT "int16.ip", eax
    movzx eax, word [var + 0x1E]
    and eax, 0x200
    REPORT "int16.if", eax
    mov ax, cs
    movzx eax, ax
    REPORT "cs.back", eax
    ret

%include "tail.inc"
