; Protected mode: the switch from real mode, segment limit/type/presence checks with their error codes,
; LAR/LSL/VERR/VERW, and the exceptions raised by instructions (#DE #BP #OF #BR #UD #NM #MF #NP #GP).
%include "common.inc"

gate_target:
    retf

test_main:
    mov eax, cr0
    and eax, 1
    REPORT "cr0.pe", eax
    mov ax, cs
    REPORT "cs", eax
    mov eax, [GDT_BASE + SEL_DATA0 + 4]     ; loading DS set the data descriptor's accessed bit
    REPORT "data.access", eax

    ; -- limits of a small data segment (limit 0xFFF)
    mov dword [0xFFC], 0x12345678
    mov ax, SEL_SMALL
    mov fs, ax
    mov eax, [fs:0xFFC]
    REPORT "small.read", eax
    EXPECT_FAULT .l1
    mov eax, [fs:0xFFD]                     ; the last byte is past the limit
.l1:
    REPORT "small.vec", [last_vec]
    REPORT "small.err", [last_err]
    EXPECT_FAULT .l2
    mov byte [fs:0x1000], 1
.l2:
    REPORT "small.vec2", [last_vec]

    ; -- expand-down segment: valid offsets are 0x1000..0xFFFFFFFF
    mov ax, SEL_XDOWN
    mov gs, ax
    mov eax, [gs:0x2000]
    cmp eax, [0x2000]
    sete al
    movzx eax, al
    REPORT "xdown.same", eax
    EXPECT_FAULT .l3
    mov eax, [gs:0x800]
.l3:
    REPORT "xdown.vec", [last_vec]

    ; -- a null selector loads, but using it faults
    xor eax, eax
    mov fs, ax
    EXPECT_FAULT .l4
    mov eax, [fs:0]
.l4:
    REPORT "null.vec", [last_vec]
    REPORT "null.err", [last_err]

    ; -- read-only data: writes fault, loading it into SS faults with its selector
    mov ax, SEL_RODATA
    mov es, ax
    mov eax, [es:0xFFC]
    REPORT "ro.read", eax
    EXPECT_FAULT .l5
    mov dword [es:0x600], 1
.l5:
    REPORT "ro.vec", [last_vec]
    EXPECT_FAULT .l6
    mov ax, SEL_RODATA
    mov ss, ax
.l6:
    REPORT "ro.ss.vec", [last_vec]
    REPORT "ro.ss.err", [last_err]
    mov ax, SEL_DATA0
    mov es, ax

    ; -- not present: #NP with the selector
    EXPECT_FAULT .l7
    mov ax, SEL_ABSENT
    mov es, ax
.l7:
    REPORT "np.vec", [last_vec]
    REPORT "np.err", [last_err]

    ; -- beyond the GDT limit; RPL above DPL
    EXPECT_FAULT .l8
    mov ax, 0x1F8
    mov es, ax
.l8:
    REPORT "gdtlimit.vec", [last_vec]
    REPORT "gdtlimit.err", [last_err]
    EXPECT_FAULT .l9
    mov ax, SEL_DATA0 | 3
    mov es, ax
.l9:
    REPORT "rpl.vec", [last_vec]
    REPORT "rpl.err", [last_err]
    mov ax, SEL_DATA3
    mov es, ax
    xor eax, eax
    mov ax, es
    REPORT "es.user", eax
    mov ax, SEL_DATA0
    mov es, ax

    ; -- LAR, LSL, VERR, VERW
    mov eax, 0xFFFFFFFF
    mov bx, SEL_DATA0
    lar eax, bx
    REPORT "lar.data", eax
    mov bx, SEL_SMALL
    lsl eax, bx
    REPORT "lsl.small", eax
    mov bx, SEL_CODE0
    lsl eax, bx
    REPORT "lsl.code", eax
    xor ebx, ebx
    mov eax, 0x5A5A5A5A
    lar eax, bx
    setz bl
    REPORT "lar.null.zf", ebx
    REPORT "lar.null.eax", eax
    xor ebx, ebx
    mov cx, SEL_CODE0
    verr cx
    setz bl
    REPORT "verr.code", ebx
    verw cx
    setz bl
    REPORT "verw.code", ebx
    mov cx, SEL_DATA0
    verw cx
    setz bl
    REPORT "verw.data", ebx
    mov cx, SEL_RODATA
    verw cx
    setz bl
    REPORT "verw.ro", ebx

    ; -- exceptions raised by instructions
    EXPECT_FAULT .e1
    xor edx, edx
    xor ecx, ecx
    mov eax, 5
.de: div ecx
.e1:
    REPORT "de.vec", [last_vec]
    mov eax, [last_eip]
    sub eax, .de
    REPORT "de.eip", eax                    ; faults report the faulting instruction
    EXPECT_FAULT .e2
.bp: int3
.e2:
    REPORT "bp.vec", [last_vec]
    mov eax, [last_eip]
    sub eax, .bp
    REPORT "bp.eip", eax                    ; traps report the next instruction
    EXPECT_FAULT .e3
    mov al, 0x7F
    add al, 1                               ; OF = 1
    into
.e3:
    REPORT "of.vec", [last_vec]
    EXPECT_FAULT .e4
    mov dword [var], 10
    mov dword [var + 4], 20
    mov eax, 25
    bound eax, [var]
.e4:
    REPORT "br.vec", [last_vec]
    EXPECT_FAULT .e5
    ud2
.e5:
    REPORT "ud.vec", [last_vec]
    mov eax, cr0
    or eax, 8                               ; TS
    mov cr0, eax
    EXPECT_FAULT .e6
    fld1
.e6:
    REPORT "nm.vec", [last_vec]
    clts
    mov eax, cr0
    or eax, 0x20                            ; NE: x87 errors as #MF
    mov cr0, eax
    fninit
    mov word [var], 0x037B                  ; unmask ZE
    fldcw [var]
    fld1
    fldz
    fdivp st1, st0                          ; division by zero: ZE pending
    xor eax, eax
    fnstsw ax
    REPORT "mf.sw", eax
    EXPECT_FAULT .e7
    fwait
.e7:
    REPORT "mf.vec", [last_vec]
    fninit

    ; -- a gate that is not present, and a vector beyond the IDT limit
    mov byte [IDT_BASE + 0x30 * 8 + 5], 0x0E
    EXPECT_FAULT .e8
    int 0x30
.e8:
    REPORT "npgate.vec", [last_vec]
    REPORT "npgate.err", [last_err]
    mov word [var], 0x40 * 8 - 1
    mov dword [var + 2], IDT_BASE
    lidt [var]
    EXPECT_FAULT .e9
    int 0x40
.e9:
    REPORT "idtlimit.vec", [last_vec]
    REPORT "idtlimit.err", [last_err]
    lidt [idtr_image]

    ; -- a task switch to a TSS whose limit is too small: #TS with its selector
    EXPECT_FAULT .t1
    jmp SEL_BADTSS:0
.t1:
    REPORT "ts.vec", [last_vec]
    REPORT "ts.err", [last_err]
    REPORT "faults", [fault_count]
    ret

%include "tail.inc"
