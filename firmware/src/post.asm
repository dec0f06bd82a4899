; post.asm - power-on self test: from the reset vector to int 19h.
; Order: console first (so every later step can report), interrupt controller and timer, vector
; table, BIOS data areas, memory size from CMOS, PCI, the disk, the E820 map, then boot.

post_entry:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, POST_STACK
        mov ds, ax
        mov es, ax
        in al, PORT_A20                 ; A20 on (PS/2 port A bit 1), fast reset bit 0 kept clear
        or al, 0x02
        and al, 0xFE
        out PORT_A20, al

        call serial_init
        call print_crlf
        PRINT "emu BIOS ", BIOS_VERSION_STR, 13, 10
        call pic_init
        call lapic_virtual_wire
        call pit_init
        call ivt_init
        call bda_init
        call ebda_init
        call memory_size
        call rtc_init_ticks
        call pci_init
        call vblk_init
        call e820_build
        call print_memory
        sti
        int 0x19                        ; does not return
        jmp end_run_halt

; pic_init: two 8259A in cascade, IBM PC/AT style (8259A datasheet, ICW1-ICW4 and OCW1).
pic_init:
        mov al, 0x11                    ; ICW1: edge triggered, cascade, ICW4 follows
        out PIC1_CMD, al
        out PIC2_CMD, al
        mov al, 0x08                    ; ICW2: master vectors 08h-0Fh
        out PIC1_DATA, al
        mov al, 0x70                    ; ICW2: slave vectors 70h-77h
        out PIC2_DATA, al
        mov al, 0x04                    ; ICW3: slave on master IRQ 2
        out PIC1_DATA, al
        mov al, 0x02                    ; ICW3: slave identity 2
        out PIC2_DATA, al
        mov al, 0x01                    ; ICW4: 8086 mode, normal EOI
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov al, 0xFB                    ; OCW1: mask everything but the cascade...
        out PIC1_DATA, al
        mov al, 0xFF
        out PIC2_DATA, al
        ret

; lapic_virtual_wire: if the CPU has a local APIC (CPUID.01h:EDX bit 9), put it in virtual wire mode
; (MultiProcessor Specification 1.4, section 3.6.2.2): APIC software-enabled (SVR bit 8), LINT0 =
; ExtINT so the 8259A's interrupts reach the CPU, LINT1 = NMI. After reset the LVTs are masked and
; the 8259A's output goes nowhere. The APIC's registers are at 0xFEE00000, out of real mode's
; reach: they are written from 16-bit protected mode through a flat data segment, then FS gets a
; 64 KiB limit back before returning to real mode. Interrupts are off during POST.
LAPIC_BASE      equ 0xFEE00000
LAPIC_SVR       equ 0x0F0
LAPIC_LVT_LINT0 equ 0x350
LAPIC_LVT_LINT1 equ 0x360

lapic_virtual_wire:
        pushad
        push fs
        mov eax, 1
        cpuid
        test edx, 1 << 9
        jz .done
        o32 lgdt [cs:pm_gdt_ptr]
        mov eax, cr0
        or al, 1
        mov cr0, eax                    ; protected mode; CS keeps its real-mode cached descriptor
        mov bx, PM_FLAT_DATA
        mov fs, bx
        mov esi, LAPIC_BASE
        mov eax, [fs:esi + LAPIC_SVR]
        or ah, 0x01                     ; APIC software enable
        mov [fs:esi + LAPIC_SVR], eax
        mov dword [fs:esi + LAPIC_LVT_LINT0], 0x8700    ; ExtINT, level triggered
        mov dword [fs:esi + LAPIC_LVT_LINT1], 0x8400    ; NMI, level triggered
        mov bx, PM_REAL_DATA
        mov fs, bx                      ; a 64 KiB limit again
        mov eax, cr0
        and al, 0xFE
        mov cr0, eax
.done:  pop fs
        popad
        ret

; The GDT for that: the accessed bits are preset, so loading a selector writes nothing to the ROM.
pm_gdt:
        dq 0
PM_FLAT_DATA    equ 0x08                ; base 0, limit 4 GiB, read/write
        dq 0x00CF93000000FFFF
PM_REAL_DATA    equ 0x10                ; base 0, limit 64 KiB, read/write, as real mode has
        dq 0x000093000000FFFF
pm_gdt_ptr:
        dw 3 * 8 - 1
        dd BIOS_ROM_PHYS + pm_gdt

; bda_init: the BIOS data area at 0x400 (layout in layout.inc).
bda_init:
        push es
        mov ax, BDA_SEG
        mov es, ax
        xor di, di
        xor ax, ax
        mov cx, 128
        rep stosw
        mov word [es:BDA_COM1], COM1
        ; equipment word (int 11h): bit 1 x87 present, bits 5-4 = 10b 80x25 colour, bits 11-9 = one
        ; serial port, no diskette drive (bit 0 clear)
        mov word [es:BDA_EQUIPMENT], 0x0222
        mov word [es:BDA_BASEMEM_KIB], (EBDA_PHYS >> 10)
        mov word [es:BDA_EBDA_SEG], EBDA_SEG
        mov word [es:BDA_KBD_HEAD], BDA_KBD_BUF
        mov word [es:BDA_KBD_TAIL], BDA_KBD_BUF
        mov word [es:BDA_KBD_START], BDA_KBD_BUF
        mov word [es:BDA_KBD_END], BDA_KBD_BUF_END
        ; a plausible text-mode video state: mode 3, 80x25, one 4 KiB page, colour CRTC at 0x3D4
        mov byte [es:BDA_VIDEO_MODE], 3
        mov word [es:BDA_VIDEO_COLS], 80
        mov word [es:BDA_VIDEO_PAGESZ], 0x1000
        mov word [es:BDA_CURSOR_SHAPE], 0x0607
        mov word [es:BDA_CRTC_BASE], 0x3D4
        mov byte [es:BDA_VIDEO_MSR], 0x29
        mov byte [es:BDA_VIDEO_PAL], 0x30
        mov byte [es:BDA_VIDEO_ROWS], 24
        mov word [es:BDA_VIDEO_CHARH], 16
        mov byte [es:BDA_VIDEO_CTL], 0x60
        mov byte [es:BDA_VIDEO_SWITCH], 0x09
        mov byte [es:BDA_VIDEO_MODESET], 0x51
        mov byte [es:BDA_VIDEO_DCC], 0x08
        pop es
        ret

; ebda_init: clear the EBDA and write its size (KiB) in byte 0.
ebda_init:
        push es
        mov ax, EBDA_SEG
        mov es, ax
        xor di, di
        xor ax, ax
        mov cx, EBDA_KIB * 512
        rep stosw
        mov byte [es:EBDA_SIZE_KIB], EBDA_KIB
        mov dword [es:EBDA_LOWMEM_END], EBDA_PHYS
        pop es
        ret

; cmos_read: AL = CMOS register -> AL = its value.
cmos_read:
        out CMOS_INDEX, al
        in al, CMOS_DATA
        ret

; memory_size: RAM below 4 GiB as AT BIOSes read it from CMOS: 0x34/0x35 count 64 KiB blocks above
; 16 MiB; if zero, 0x30/0x31 count KiB above 1 MiB (at most 65535). Result in EBDA_RAM_TOP.
memory_size:
        push es
        mov ax, EBDA_SEG
        mov es, ax
        mov al, CMOS_MEM64K_HI
        call cmos_read
        mov ah, al
        mov al, CMOS_MEM64K_LO
        call cmos_read
        movzx eax, ax
        or eax, eax
        jz .ext
        cmp eax, (0xE0000000 - 0x1000000) >> 16   ; keep below the PCI window at 3.5 GiB
        jbe .blocks
        mov eax, (0xE0000000 - 0x1000000) >> 16
.blocks:
        shl eax, 16
        add eax, 0x1000000
        jmp .store
.ext:   mov al, CMOS_EXTMEM_HI
        call cmos_read
        mov ah, al
        mov al, CMOS_EXTMEM_LO
        call cmos_read
        movzx eax, ax
        shl eax, 10
        add eax, 0x100000
.store: mov [es:EBDA_RAM_TOP], eax
        pop es
        ret

; print_memory: "RAM: 128 MiB (628 KiB conventional)".
print_memory:
        push es
        mov ax, EBDA_SEG
        mov es, ax
        PRINT "RAM: "
        mov eax, [es:EBDA_RAM_TOP]
        shr eax, 20
        call print_dec32
        PRINT " MiB ("
        mov eax, [es:EBDA_LOWMEM_END]
        shr eax, 10
        call print_dec32
        PRINT " KiB conventional)", 13, 10
        pop es
        ret
