; int15.asm - int 15h system services (Ralf Brown's interrupt list, INT 15h): the memory map (E820h,
; ACPI 3.0 "System Address Map Interfaces"), E801h, 88h, the A20 gate (2400h-2403h), the system
; configuration table (C0h), the EBDA segment (C1h) and a wait (86h). Anything else: CF=1, AH=86h.

E820_RAM        equ 1
E820_RESERVED   equ 2
SMAP            equ 0x534D4150          ; 'SMAP'

int15_handler:
        ENTER_FRAME
        cld
        mov ax, EBDA_SEG
        mov ds, ax
        mov ax, [bp + R_AX]
        cmp ax, 0xE820
        je int15_e820
        cmp ax, 0xE801
        je int15_e801
        cmp ah, 0x88
        je int15_88
        cmp ah, 0x24
        je int15_a20
        cmp ah, 0xC0
        je int15_config
        cmp ah, 0xC1
        je int15_ebda
        cmp ah, 0x86
        je int15_wait
        cmp ah, 0x4F
        je int15_keyboard_intercept
int15_unsupported:
        mov byte [bp + R_AH], 0x86
int15_error:
        SET_CF
        jmp int15_exit
int15_success:
        CLEAR_CF
int15_exit:
        LEAVE_FRAME

; AH=4Fh: keyboard intercept (called by keyboard handlers); CF=1 = let the key through.
int15_keyboard_intercept:
        SET_CF
        jmp int15_exit

; AX=E820h, EDX='SMAP', EBX = continuation (0 first), ECX = buffer size (>= 20), ES:DI = buffer.
; Returns one entry {u64 base, u64 length, u32 type[, u32 ACPI 3.0 attributes]}, EAX='SMAP', ECX =
; bytes written, EBX = next continuation or 0 after the last entry.
int15_e820:
        cmp dword [bp + R_EDX], SMAP
        jne int15_unsupported
        mov ebx, [bp + R_EBX]
        movzx ecx, word [EBDA_E820_COUNT]
        cmp ebx, ecx
        jae int15_unsupported
        mov edx, [bp + R_ECX]
        cmp edx, 20
        jb int15_unsupported
        mov es, [bp + R_ES]
        mov di, [bp + R_DI]
        imul si, bx, E820_ENTRY
        add si, EBDA_E820_TABLE
        mov cx, E820_ENTRY
        rep movsb                       ; EBDA table -> caller's buffer
        mov dword [bp + R_ECX], 20
        cmp edx, 24                     ; room for the ACPI 3.0 extended attributes?
        jb .next
        mov dword [es:di], 1            ; bit 0: the entry is enabled
        mov dword [bp + R_ECX], 24
.next:  inc ebx
        movzx ecx, word [EBDA_E820_COUNT]
        cmp ebx, ecx
        jb .more
        xor ebx, ebx                    ; that was the last entry
.more:  mov [bp + R_EBX], ebx
        mov dword [bp + R_EAX], SMAP
        jmp int15_success

; AX=E801h: AX = CX = KiB between 1 and 16 MiB (at most 15360), BX = DX = 64 KiB blocks above 16 MiB.
int15_e801:
        mov eax, [EBDA_RAM_TOP]
        mov ebx, eax
        cmp eax, 0x1000000
        jbe .low
        mov eax, 0x1000000
.low:   sub eax, 0x100000
        shr eax, 10
        mov [bp + R_AX], ax
        mov [bp + R_CX], ax
        xor eax, eax
        sub ebx, 0x1000000
        jbe .high
        mov eax, ebx
        shr eax, 16
.high:  mov [bp + R_BX], ax
        mov [bp + R_DX], ax
        jmp int15_success

; AH=88h: AX = KiB of extended memory above 1 MiB, as CMOS 0x30/0x31 holds it (at most 65535).
int15_88:
        mov al, CMOS_EXTMEM_HI
        call cmos_read
        mov ah, al
        mov al, CMOS_EXTMEM_LO
        call cmos_read
        mov [bp + R_AX], ax
        jmp int15_success

; AX=2400h disable, 2401h enable, 2402h status (AL), 2403h support (BX: bit 1 = port 92h). Through
; the PS/2 system control port A; bit 0 of that port resets the CPU and must be written as 0.
int15_a20:
        mov al, [bp + R_AL]
        cmp al, 0x03
        je .support
        cmp al, 0x02
        je .status
        cmp al, 0x01
        ja int15_unsupported
        mov ah, al
        shl ah, 1                       ; AL = 0/1 -> bit 1 clear/set
        in al, PORT_A20
        and al, 0xFC
        or al, ah
        out PORT_A20, al
        mov byte [bp + R_AH], 0
        jmp int15_success
.status:
        in al, PORT_A20
        shr al, 1
        and al, 1
        mov [bp + R_AL], al
        mov byte [bp + R_AH], 0
        jmp int15_success
.support:
        mov word [bp + R_BX], 0x0002
        mov byte [bp + R_AH], 0
        jmp int15_success

; AH=C0h: ES:BX = the system configuration table in ROM.
int15_config:
        mov word [bp + R_ES], BIOS_SEG
        mov word [bp + R_BX], system_config_table
        mov byte [bp + R_AH], 0
        jmp int15_success

; AH=C1h: ES = EBDA segment.
int15_ebda:
        push BDA_SEG
        pop es
        mov ax, [es:BDA_EBDA_SEG]
        mov [bp + R_ES], ax
        jmp int15_success

; AH=86h: wait CX:DX microseconds, counted on the PIT (timer.asm). Interrupts are enabled meanwhile,
; so the tick count keeps up.
int15_wait:
        sti
        mov ax, [bp + R_CX]
        shl eax, 16
        mov ax, [bp + R_DX]
        mov ecx, PIT_HZ
        mul ecx                         ; EDX:EAX = microseconds * PIT clocks per second
        mov ecx, 1000000
        cmp edx, ecx
        jb .div
        mov eax, 0xFFFFFFFF             ; more than an hour: wait the longest this counter can
        jmp .start
.div:   div ecx                         ; EAX = PIT clocks to wait
.start: mov ebx, eax
        call pit_clock_start
.spin:  pause
        call pit_clock_read
        cmp eax, ebx
        jb .spin
        mov byte [bp + R_AH], 0
        jmp int15_success

; e820_build (POST): the map, from low to high. DS-independent.
;   0 .. end of conventional memory       RAM   (up to the virtio ring / EBDA)
;   that .. 0xA0000                       reserved (virtio ring, EBDA)
;   0xF0000 .. 0x100000                   reserved (this BIOS)
;   1 MiB .. top of RAM                   RAM
;   0xFFFF0000 .. 4 GiB                   reserved (this BIOS at the top of the address space)
e820_build:
        push ds
        push es
        pushad
        mov ax, EBDA_SEG
        mov ds, ax
        mov es, ax
        mov di, EBDA_E820_TABLE
        xor eax, eax
        mov ecx, [EBDA_LOWMEM_END]
        mov dl, E820_RAM
        call e820_add
        mov eax, ecx
        mov ecx, LOWMEM_END
        sub ecx, eax
        mov dl, E820_RESERVED
        call e820_add
        mov eax, BIOS_ROM_PHYS
        mov ecx, BIOS_ROM_SIZE
        call e820_add
        mov eax, 0x100000
        mov ecx, [EBDA_RAM_TOP]
        sub ecx, eax
        mov dl, E820_RAM
        call e820_add
        mov eax, BIOS_ROM_HIGH
        mov ecx, BIOS_ROM_SIZE
        mov dl, E820_RESERVED
        call e820_add
        sub di, EBDA_E820_TABLE
        mov ax, di
        mov bl, E820_ENTRY
        div bl
        xor ah, ah
        mov [EBDA_E820_COUNT], ax
        popad
        pop es
        pop ds
        ret

; e820_add: ES:DI = next entry; EAX = base, ECX = length, DL = type. Advances DI.
e820_add:
        mov [es:di], eax
        mov dword [es:di + 4], 0
        mov [es:di + 8], ecx
        mov dword [es:di + 12], 0
        movzx edx, dl
        mov [es:di + 16], edx
        add di, E820_ENTRY
        ret

; The system configuration table (int 15h AH=C0h; IBM PS/2 "system configuration parameters"):
; length 8, model FCh (AT), submodel 01h, BIOS revision 0, feature byte 1: second 8259 (bit 6), RTC
; (bit 5), EBDA allocated (bit 2); feature bytes 2-5 zero.
system_config_table:
        dw 8
        db 0xFC, 0x01, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00
