; bios.asm - the emu BIOS: a 64 KiB PC BIOS for an i440FX/PIIX3 PC with a virtio-blk disk and a serial
; console. Assembled with nasm as one flat image (nasm -f bin); the image is segment F000, so every
; label is an offset in F000. The CPU starts at the reset vector F000:FFF0 (physical FFFFFFF0).
; Runs in real mode; 386+ instructions (32-bit registers) are used freely: the CPU is an i686.

        cpu 686
        bits 16
        org 0

%include "layout.inc"

        ; the image starts with its name, for anyone reading a dump
        db "emu BIOS ", BIOS_VERSION_STR, 0

%include "serial.asm"
%include "post.asm"
%include "timer.asm"
%include "ivt.asm"
%include "pci.asm"
%include "virtio-blk.asm"
%include "int10.asm"
%include "int13.asm"
%include "int15.asm"
%include "int16.asm"
%include "int1a.asm"
%include "int19.asm"

        ; (nasm stops with "TIMES value is negative" if the code grows into the reset vector)
        times 0xFFF0 - ($ - $$) db 0xFF

; F000:FFF0, the reset vector: the CPU starts here with CS base FFFF0000.
reset_vector:
        jmp BIOS_SEG:post_entry
        db "11/24/25"                   ; F000:FFF5, BIOS date (MM/DD/YY)
        db 0
        db 0xFC                         ; F000:FFFE, model byte: AT
        db 0
