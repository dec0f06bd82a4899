; int19.asm - int 19h bootstrap loader, int 18h boot failure, and the end of a run that cannot boot.
; int 19h reads sector 0 of disk 80h to 0000:7C00, checks the 55AAh signature at offset 1FEh and
; jumps there with DL = 80h, like the IBM PC/AT BIOS. When that is impossible it prints one line
; saying why and ends the run (end_run).

int19_handler:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, POST_STACK
        mov ax, EBDA_SEG
        mov ds, ax
        sti
        cmp word [EBDA_VBLK_IO], 0
        je .no_disk
        cmp dword [EBDA_VBLK_CAP + 4], 0
        jne .read
        cmp dword [EBDA_VBLK_CAP], 0
        je .empty
.read:  mov byte [EBDA_REQ_WRITE], 0
        xor eax, eax
        xor edx, edx
        mov cx, 1
        mov ebx, BOOT_SEG * 16 + BOOT_OFF
        call disk_transfer
        or al, al
        jnz .read_error
        xor ax, ax
        mov es, ax
        cmp word [es:BOOT_OFF + 0x1FE], 0xAA55
        jne .not_bootable
        PRINT "Booting from disk 80h...", 13, 10
        xor ax, ax
        mov ds, ax
        mov es, ax
        xor bx, bx
        xor cx, cx
        xor si, si
        xor di, di
        xor bp, bp
        mov dx, 0x0080                  ; DL = boot drive
        jmp BOOT_SEG:BOOT_OFF

.no_disk:
        PRINT "emu BIOS: no bootable disk: no virtio-blk disk found", 13, 10
        mov al, EXIT_NO_DISK
        jmp end_run
.empty: PRINT "emu BIOS: disk 80h is empty (0 sectors): nothing to boot", 13, 10
        mov al, EXIT_NOT_BOOTABLE
        jmp end_run
.read_error:
        PRINT "emu BIOS: cannot read the boot sector of disk 80h (int 13h status "
        call print_hex8
        PRINT "h)", 13, 10
        mov al, EXIT_READ_ERROR
        jmp end_run
.not_bootable:
        PRINT "emu BIOS: disk 80h is not bootable (no 55AA signature in its first sector)", 13, 10
        mov al, EXIT_NOT_BOOTABLE
        jmp end_run

; int 18h: the boot code gave up (an MBR calls it when it finds no operating system to load).
int18_handler:
        cli
        cld
        PRINT "emu BIOS: boot failed: the boot loader gave up (int 18h)", 13, 10
        mov al, EXIT_BOOT_FAILED
        ; fall through

; end_run: AL = exit code. Writes it to the isa-debug-exit port (QEMU exits with (AL << 1) | 1; this
; project's PC has the same device); where that port does nothing, halts with interrupts off, which
; ends the run on an emulator that stops at such a HLT.
end_run:
        mov dx, DEBUG_EXIT
        out dx, al
end_run_halt:
        cli
.halt:  hlt
        jmp .halt

; int 11h: AX = equipment list (BDA 0x410).
int11_handler:
        push ds
        push BDA_SEG
        pop ds
        mov ax, [BDA_EQUIPMENT]
        pop ds
        iret

; int 12h: AX = conventional memory in KiB (BDA 0x413).
int12_handler:
        push ds
        push BDA_SEG
        pop ds
        mov ax, [BDA_BASEMEM_KIB]
        pop ds
        iret
