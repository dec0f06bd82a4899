; probe.asm - a boot disk program for testing a BIOS: it boots like an MBR, calls the services a boot
; loader and the Linux real-mode setup use (int 10h/11h/12h/13h/15h/16h/1Ah), checks what they return
; and prints one line per finding on the console through int 10h:
;   "PROBE name=value"       a value the test script compares with what it knows independently
;   "PROBE FAIL what"        a check inside the probe failed
;   "PROBE END failures=N"   last line; then it writes 10h (all passed) or 11h to the isa-debug-exit port
; Disk contract (qemu-smoke.sh builds it): the probe at sector 0 onward; every sector from STAMP_FIRST
; to the end carries a stamp: dword LBA at offset 0 and dword NOT LBA at offset 508. The probe writes
; one sector, WRITE_LBA, with a known pattern; the script checks the image file afterwards.
; Assemble: nasm -f bin -o probe.bin probe.asm

        cpu 686
        bits 16
        org 0x7C00

STAMP_FIRST     equ 64
WRITE_LBA       equ STAMP_FIRST + 100
BUF_SEG         equ 0x1000                      ; 64 KiB scratch buffer at 0x10000
FLAT_BUF        equ 0x60000                     ; buffer given by its 64-bit flat address
DEBUG_EXIT      equ 0x501

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        cld
        mov [boot_drive], dl
        ; the rest of the probe follows this sector: read it with a CHS read (int 13h AH=02h)
        mov ax, 0x0200 + (PROBE_SECTORS - 1)
        mov cx, 0x0002                          ; cylinder 0, sector 2
        xor dh, dh
        mov bx, 0x7E00
        int 0x13
        jc .fail
        jmp main
.fail:  mov si, msg_load_failed
.print: lodsb
        or al, al
        jz .end
        mov ah, 0x0E
        int 0x10
        jmp .print
.end:   int 0x18
msg_load_failed: db "PROBE FAIL loading the probe with int 13h AH=02h", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55

; ---- output ---------------------------------------------------------------------------------------
; PUTS "text": print a literal through int 10h AH=0Eh.
%macro PUTS 1+
        jmp %%over
%%s:    db %1, 0
%%over: push si
        mov si, %%s
        call puts
        pop si
%endmacro
; FAIL "what": count a failure and print it.
%macro FAIL 1+
        inc word [failures]
        PUTS "PROBE FAIL ", %1, 13, 10
%endmacro
; CHECK jcc, "what": fail unless the condition holds.
%macro CHECK 2+
        %1 %%ok
        FAIL %2
%%ok:
%endmacro

puts:   pusha
.next:  lodsb
        or al, al
        jz .done
        call putc
        jmp .next
.done:  popa
        ret

putc:   pusha
        mov ah, 0x0E
        xor bx, bx
        int 0x10
        popa
        ret

newline:
        push ax
        mov al, 13
        call putc
        mov al, 10
        call putc
        pop ax
        ret

put_hex8:                                       ; AL
        push ax
        push ax
        shr al, 4
        call put_nibble
        pop ax
        call put_nibble
        pop ax
        ret
put_nibble:
        push ax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .o
        add al, 7
.o:     call putc
        pop ax
        ret
put_hex16:                                      ; AX
        xchg al, ah
        call put_hex8
        xchg al, ah
        call put_hex8
        ret
put_hex32:                                      ; EAX
        ror eax, 16
        call put_hex16
        ror eax, 16
        call put_hex16
        ret
put_dec32:                                      ; EAX
        pushad
        mov ebx, 10
        xor cx, cx
.d:     xor edx, edx
        div ebx
        push dx
        inc cx
        or eax, eax
        jnz .d
.o:     pop ax
        add al, '0'
        call putc
        loop .o
        popad
        ret

; ---- the tests ---------------------------------------------------------------------------------------
main:
        PUTS "PROBE START", 13, 10
        call test_video
        call test_memory
        call test_time
        call test_pci
        call test_disk
        call test_keyboard
        PUTS "PROBE END failures="
        movzx eax, word [failures]
        call put_dec32
        call newline
        mov al, 0x10
        cmp word [failures], 0
        je .exit
        mov al, 0x11
.exit:  mov dx, DEBUG_EXIT
        out dx, al
        cli
.halt:  hlt
        jmp .halt

; int 10h: the queries SYSLINUX and the Linux setup make.
test_video:
        mov ah, 0x0F
        int 0x10
        push ax
        PUTS "PROBE video_mode="
        call put_hex8
        PUTS " cols="
        mov al, ah
        movzx eax, al
        call put_dec32
        call newline
        pop ax
        cmp ax, 0x5003
        CHECK je, "int 10h AH=0Fh: expected mode 3 with 80 columns"
        mov ah, 0x02                            ; set the cursor, read it back
        xor bh, bh
        mov dx, 0x0507
        int 0x10
        mov ah, 0x03
        xor bh, bh
        int 0x10
        cmp dx, 0x0507
        CHECK je, "int 10h AH=03h does not return the cursor AH=02h set"
        mov ah, 0x02                            ; column 0 of the next row, as the output really is
        xor bh, bh
        mov dx, 0x0600
        int 0x10
        mov ah, 0x12
        mov bl, 0x10
        int 0x10
        cmp bl, 0x10
        CHECK jne, "int 10h AH=12h BL=10h: no EGA/VGA information"
        mov ax, 0x1A00
        int 0x10
        cmp al, 0x1A
        CHECK je, "int 10h AX=1A00h: display combination not supported"
        mov ax, 0x4F00                          ; VBE: must fail cleanly (AX != 004Fh)
        push ds
        pop es
        mov di, scratch
        int 0x10
        cmp ax, 0x004F
        CHECK jne, "int 10h AX=4F00h: claims VESA support"
        ret

; int 11h/12h/15h: equipment, memory map, A20, configuration table, wait.
test_memory:
        int 0x11
        PUTS "PROBE equipment="
        call put_hex16
        call newline
        int 0x12
        mov [base_kib], ax
        PUTS "PROBE base_kib="
        movzx eax, ax
        call put_dec32
        call newline

        ; E820: walk the map; check that entry 0 is RAM from 0 to int 12h's size and find the RAM at 1 MiB
        xor ebx, ebx
        xor si, si                              ; entries seen
.e820:  mov eax, 0xE820
        mov edx, 0x534D4150
        mov ecx, 24
        push ds
        pop es
        mov di, e820_buf
        mov dword [e820_buf + 20], 0
        int 0x15
        jc .e820_cf
        cmp eax, 0x534D4150
        CHECK je, "int 15h E820h: EAX is not 'SMAP'"
        PUTS "PROBE e820 base="
        mov eax, [e820_buf]
        call put_hex32
        PUTS " length="
        mov eax, [e820_buf + 8]
        call put_hex32
        PUTS " type="
        mov eax, [e820_buf + 16]
        call put_dec32
        call newline
        cmp dword [e820_buf + 4], 0
        CHECK je, "int 15h E820h: an entry above 4 GiB on a machine with less RAM"
        or si, si
        jnz .not_first
        cmp dword [e820_buf], 0
        CHECK je, "int 15h E820h: entry 0 does not start at 0"
        cmp dword [e820_buf + 16], 1
        CHECK je, "int 15h E820h: entry 0 is not RAM"
        movzx eax, word [base_kib]
        shl eax, 10
        cmp [e820_buf + 8], eax
        CHECK je, "int 15h E820h: entry 0 does not end where int 12h says conventional memory ends"
.not_first:
        cmp dword [e820_buf], 0x100000
        jne .next
        cmp dword [e820_buf + 16], 1
        jne .next
        mov eax, [e820_buf + 8]
        add eax, 0x100000
        mov [ram_top], eax
.next:  inc si
        cmp si, 16
        jae .e820_loop
        or ebx, ebx
        jnz .e820
        jmp .e820_done
.e820_cf:
        FAIL "int 15h E820h: CF set before the end of the map"
        jmp .e820_done
.e820_loop:
        FAIL "int 15h E820h: more than 16 entries (no end?)"
.e820_done:
        PUTS "PROBE ram_top="
        mov eax, [ram_top]
        call put_hex32
        call newline
        cmp dword [ram_top], 0
        CHECK jne, "int 15h E820h: no RAM entry at 1 MiB"

        ; E801h: AX=CX KiB in 1-16 MiB, BX=DX 64 KiB blocks above 16 MiB. The top of RAM it gives may
        ; include what a BIOS reserves at the top (E820h does not), but by less than 1 MiB.
        mov ax, 0xE801
        xor bx, bx
        xor cx, cx
        xor dx, dx
        int 0x15
        CHECK jnc, "int 15h E801h: CF set"
        cmp ax, cx
        CHECK je, "int 15h E801h: AX != CX"
        cmp bx, dx
        CHECK je, "int 15h E801h: BX != DX"
        movzx eax, bx
        shl eax, 16
        add eax, 0x1000000
        or bx, bx
        jnz .e801_top
        movzx eax, cx
        shl eax, 10
        add eax, 0x100000
.e801_top:
        PUTS "PROBE e801_top="
        call put_hex32
        call newline
        sub eax, [ram_top]
        CHECK jae, "int 15h E801h: less RAM than E820h"
        cmp eax, 0x100000
        CHECK jb, "int 15h E801h: 1 MiB or more above the top of RAM from E820h"
        mov ah, 0x88
        int 0x15
        CHECK jnc, "int 15h AH=88h: CF set"
        PUTS "PROBE ext_kib_88="
        movzx eax, ax
        call put_dec32
        call newline

        ; C0h: the configuration table; C1h: the EBDA segment
        mov ah, 0xC0
        int 0x15
        CHECK jnc, "int 15h AH=C0h: CF set"
        cmp byte [es:bx + 2], 0xFC
        CHECK je, "int 15h AH=C0h: model byte is not FCh"
        mov ah, 0xC1
        int 0x15
        CHECK jnc, "int 15h AH=C1h: CF set"
        mov ax, es
        push ds
        push word 0x40
        pop ds
        cmp ax, [0x0E]
        pop ds
        CHECK je, "int 15h AH=C1h: ES is not the EBDA segment in the BDA"

        ; A20: enable it, then see that 0000:0500 and FFFF:0510 (= 0x100500) are different bytes
        mov ax, 0x2403
        int 0x15
        CHECK jnc, "int 15h AX=2403h: CF set"
        mov ax, 0x2401
        int 0x15
        CHECK jnc, "int 15h AX=2401h: CF set"
        mov ax, 0x2402
        int 0x15
        CHECK jnc, "int 15h AX=2402h: CF set"
        cmp al, 1
        CHECK je, "int 15h AX=2402h: A20 not reported on after AX=2401h"
        push ds
        push word 0xFFFF
        pop es
        mov byte [0x0500], 0x5A
        mov byte [es:0x0510], 0xA5
        cmp byte [0x0500], 0x5A
        pop ds
        CHECK je, "A20 is off: 0x100500 wraps to 0x000500"

        ; unknown function: CF=1, AH=86h
        mov ax, 0xE9FF
        int 0x15
        CHECK jc, "int 15h AX=E9FFh: unknown function without CF"
        cmp ah, 0x86
        CHECK je, "int 15h AX=E9FFh: AH is not 86h"

        ; AH=86h: wait 200 ms; the tick count must move by 2-20 ticks (55 ms each)
        xor ah, ah
        int 0x1A
        mov [ticks], dx
        mov ah, 0x86
        mov cx, 0x0003
        mov dx, 0x0D40                          ; 0x30D40 = 200000 microseconds
        int 0x15
        CHECK jnc, "int 15h AH=86h: CF set"
        xor ah, ah
        int 0x1A
        sub dx, [ticks]
        PUTS "PROBE wait_200ms_ticks="
        movzx eax, dx
        call put_dec32
        call newline
        cmp dx, 2
        CHECK jae, "int 15h AH=86h: returned before 200 ms (or the timer does not tick)"
        cmp dx, 20
        CHECK jbe, "int 15h AH=86h: took over a second for 200 ms"
        ret

; int 1Ah: the tick count advances (IRQ 0 reaches the CPU); RTC time and date.
test_time:
        xor ah, ah
        int 0x1A
        mov [ticks], dx
        mov ecx, 0x10000000                     ; far longer than one tick on any emulator
.spin:  xor ah, ah
        int 0x1A
        cmp dx, [ticks]
        jne .ticked
        dec ecx
        jnz .spin
        FAIL "int 1Ah AH=00h: the tick count does not advance (no timer interrupt)"
.ticked:
        mov ah, 0x04
        int 0x1A
        CHECK jnc, "int 1Ah AH=04h: CF set"
        PUTS "PROBE rtc_date="
        mov al, ch
        call put_hex8
        mov al, cl
        call put_hex8
        mov al, dh
        call put_hex8
        mov al, dl
        call put_hex8
        call newline
        mov ah, 0x02
        int 0x1A
        CHECK jnc, "int 1Ah AH=02h: CF set"
        PUTS "PROBE rtc_time="
        mov al, ch
        call put_hex8
        mov al, cl
        call put_hex8
        mov al, dh
        call put_hex8
        call newline
        ret

; int 1Ah AH=B1h: the PCI BIOS finds the disk; its Interrupt Line was programmed.
test_pci:
        mov ax, 0xB101
        xor edi, edi
        int 0x1A
        CHECK jnc, "int 1Ah AX=B101h: CF set"
        cmp edx, 0x20494350
        CHECK je, "int 1Ah AX=B101h: EDX is not 'PCI '"
        mov ax, 0xB102
        mov cx, 0x1001
        mov dx, 0x1AF4
        xor si, si
        int 0x1A
        jnc .found
        FAIL "int 1Ah AX=B102h: virtio-blk 1AF4:1001 not found"
        ret
.found: mov [pci_bdf], bx
        PUTS "PROBE virtio_blk_slot="
        movzx eax, bl
        shr al, 3
        call put_dec32
        mov ax, 0xB10A
        mov bx, [pci_bdf]
        xor di, di
        int 0x1A
        cmp ecx, 0x10011AF4
        CHECK je, "int 1Ah AX=B10Ah: register 0 of the device found is not 1AF4:1001"
        mov ax, 0xB108
        mov bx, [pci_bdf]
        mov di, 0x3C
        int 0x1A
        PUTS " irq="
        movzx eax, cl
        call put_dec32
        call newline
        mov ax, 0xB102                          ; a device that is not there
        mov cx, 0xBEEF
        mov dx, 0x1AF4
        xor si, si
        int 0x1A
        CHECK jc, "int 1Ah AX=B102h: found a device that does not exist"
        cmp ah, 0x86
        CHECK je, "int 1Ah AX=B102h: AH is not 86h (device not found)"
        ret

; int 13h on disk 80h: EDD, geometry, reads (CHS and LBA, stamps checked), a write, and errors.
test_disk:
        mov ah, 0x41
        mov bx, 0x55AA
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=41h: CF set"
        cmp bx, 0xAA55
        CHECK je, "int 13h AH=41h: BX is not AA55h"
        test cl, 1
        CHECK jnz, "int 13h AH=41h: CX bit 0 (extended access) clear"
        PUTS "PROBE edd_version="
        mov al, ah
        call put_hex8
        call newline

        ; AH=48h with the 74-byte EDD 3.0 buffer
        mov word [edd_params], 0x4A
        mov si, edd_params
        mov ah, 0x48
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=48h: CF set"
        mov eax, [edd_params + 0x10]
        mov [sectors], eax
        PUTS "PROBE disk_sectors="
        call put_dec32
        call newline
        cmp dword [edd_params + 0x14], 0
        CHECK je, "int 13h AH=48h: more than 2^32 sectors"
        cmp word [edd_params + 0x18], 512
        CHECK je, "int 13h AH=48h: bytes per sector is not 512"
        cmp word [edd_params + 0x1E], 0xBEDD
        CHECK je, "int 13h AH=48h: no EDD 3.0 key BEDDh"
        cmp dword [edd_params + 0x24], 'PCI '
        CHECK je, "int 13h AH=48h: host bus is not PCI"
        movzx cx, byte [edd_params + 0x20]      ; device path information: sums to 0
        mov si, edd_params + 0x1E
        xor al, al
.sum:   add al, [si]
        inc si
        loop .sum
        or al, al
        CHECK jz, "int 13h AH=48h: EDD 3.0 device path checksum is wrong"
        mov al, [edd_params + 0x31]
        shl al, 3
        cmp al, [pci_bdf]
        CHECK je, "int 13h AH=48h: interface path is not the virtio-blk PCI device"

        ; AH=08h geometry
        mov ah, 0x08
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=08h: CF set"
        cmp dl, 1
        CHECK je, "int 13h AH=08h: DL (number of disks) is not 1"
        movzx ax, dh
        inc ax
        mov [heads], ax
        mov al, cl
        and ax, 0x3F
        mov [spt], ax
        mov al, ch
        mov ah, cl
        shr ah, 6
        inc ax
        mov [cyls], ax
        PUTS "PROBE chs="
        movzx eax, word [cyls]
        call put_dec32
        mov al, '/'
        call putc
        movzx eax, word [heads]
        call put_dec32
        mov al, '/'
        call putc
        movzx eax, word [spt]
        call put_dec32
        call newline
        mov ah, 0x15
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=15h: CF set"
        cmp ah, 3
        CHECK je, "int 13h AH=15h: not a fixed disk (AH != 3)"

        ; LBA reads: the first stamped sector, the last sector, a 64-sector run
        mov eax, STAMP_FIRST
        call read_check_lba
        mov eax, [sectors]
        dec eax
        call read_check_lba
        mov eax, STAMP_FIRST + 7
        mov cx, 64
        call read_lba
        CHECK jnc, "int 13h AH=42h: 64-sector read failed"
        cmp word [dap + 2], 64
        CHECK je, "int 13h AH=42h: 64-sector read did not report 64 blocks"
        push es
        mov ax, BUF_SEG
        mov es, ax
        xor di, di
        mov eax, STAMP_FIRST + 7
        mov cx, 64
.run:   call check_stamp
        add di, 512
        inc eax
        loop .run
        pop es

        ; a CHS read: LBA 5000 (or the last sector CHS reaches) through the geometry AH=08h gave
        movzx eax, word [cyls]
        movzx ebx, word [heads]
        mul ebx
        movzx ebx, word [spt]
        mul ebx
        dec eax
        cmp eax, 5000
        jbe .chs_lba
        mov eax, 5000
.chs_lba:
        mov [chs_lba], eax
        xor edx, edx
        movzx ebx, word [spt]
        div ebx                                 ; EAX = track, EDX = sector - 1
        inc dx
        mov cl, dl                              ; sector
        xor edx, edx
        movzx ebx, word [heads]
        div ebx                                 ; EAX = cylinder, EDX = head
        mov dh, dl
        mov ch, al
        shl ah, 6
        or cl, ah
        mov dl, 0x80
        mov bx, BUF_SEG
        mov es, bx
        xor bx, bx
        mov ax, 0x0201
        int 0x13
        push ds
        pop es
        CHECK jnc, "int 13h AH=02h: CHS read failed"
        push es
        mov ax, BUF_SEG
        mov es, ax
        xor di, di
        mov eax, [chs_lba]
        call check_stamp
        pop es

        ; a read into a buffer given by its 64-bit flat address (DAP of 18h bytes, FFFF:FFFF)
        mov byte [dap], 0x18
        mov word [dap + 2], 1
        mov dword [dap + 4], 0xFFFFFFFF
        mov dword [dap + 8], STAMP_FIRST + 3
        mov dword [dap + 12], 0
        mov dword [dap + 0x10], FLAT_BUF
        mov dword [dap + 0x14], 0
        mov si, dap
        mov ah, 0x42
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=42h: read into a flat 64-bit buffer address failed"
        push es
        mov ax, FLAT_BUF >> 4
        mov es, ax
        xor di, di
        mov eax, STAMP_FIRST + 3
        call check_stamp
        pop es

        ; errors: past the end, across the end, a count of 0, a bad packet, a CHS sector 0, other drives
        mov eax, [sectors]
        mov cx, 1
        call read_lba
        CHECK jc, "int 13h AH=42h: a read past the end of the disk succeeded"
        cmp ah, 0x04
        CHECK je, "int 13h AH=42h: a read past the end did not return AH=04h"
        cmp word [dap + 2], 0
        CHECK je, "int 13h AH=42h: a failed read did not set the block count to 0"
        mov ah, 0x01
        mov dl, 0x80
        int 0x13
        cmp ah, 0x04
        CHECK je, "int 13h AH=01h: last status is not 04h after the failed read"
        mov eax, [sectors]
        dec eax
        mov cx, 2
        call read_lba
        CHECK jc, "int 13h AH=42h: a read across the end of the disk succeeded"
        mov eax, STAMP_FIRST
        xor cx, cx
        call read_lba
        CHECK jnc, "int 13h AH=42h: a read of 0 blocks failed"
        mov byte [dap], 0x08
        mov si, dap
        mov ah, 0x42
        mov dl, 0x80
        int 0x13
        CHECK jc, "int 13h AH=42h: a packet of 8 bytes was accepted"
        mov ax, 0x0201
        mov cx, 0x0000                          ; sector 0 does not exist in CHS
        xor dh, dh
        mov dl, 0x80
        mov bx, BUF_SEG
        mov es, bx
        xor bx, bx
        int 0x13
        push ds
        pop es
        CHECK jc, "int 13h AH=02h: sector 0 accepted"
        mov ah, 0x08
        mov dl, 0x81
        int 0x13
        CHECK jc, "int 13h AH=08h: drive 81h exists"
        push ds
        pop es
        mov ax, 0x0201
        mov cx, 0x0001
        xor dx, dx                              ; drive 00h: no diskette
        mov bx, scratch
        int 0x13
        CHECK jc, "int 13h AH=02h: drive 00h (no diskette) read succeeded"

        ; a write through AH=43h, read back through AH=42h
        push es
        mov ax, BUF_SEG
        mov es, ax
        xor di, di
        mov cx, 512
        xor al, al
.pat:   mov [es:di], al
        add al, 7
        inc di
        loop .pat
        mov dword [es:0], 'EMUW'
        mov dword [es:4], 'RITE'
        mov dword [es:8], WRITE_LBA
        pop es
        mov byte [dap], 0x10
        mov word [dap + 2], 1
        mov dword [dap + 4], BUF_SEG << 16
        mov dword [dap + 8], WRITE_LBA
        mov dword [dap + 12], 0
        mov si, dap
        mov ax, 0x4300
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=43h: write failed"
        mov dword [dap + 4], (BUF_SEG + 0x20) << 16     ; read it back 512 bytes further on
        mov si, dap
        mov ah, 0x42
        mov dl, 0x80
        int 0x13
        CHECK jnc, "int 13h AH=42h: reading the written sector failed"
        push ds
        push es
        mov ax, BUF_SEG
        mov ds, ax
        mov es, ax
        xor si, si
        mov di, 512
        mov cx, 512
        repe cmpsb
        pop es
        pop ds
        CHECK je, "int 13h: the sector read back differs from the one written"
        PUTS "PROBE wrote_lba="
        mov eax, WRITE_LBA
        call put_dec32
        call newline
        ret

; read_lba: EAX = LBA, CX = count -> int 13h AH=42h into BUF_SEG:0; CF/AH as returned.
read_lba:
        mov byte [dap], 0x10
        mov byte [dap + 1], 0
        mov [dap + 2], cx
        mov dword [dap + 4], BUF_SEG << 16
        mov [dap + 8], eax
        mov dword [dap + 12], 0
        mov si, dap
        mov ah, 0x42
        mov dl, 0x80
        int 0x13
        ret

; read_check_lba: read sector EAX and check its stamp.
read_check_lba:
        push eax
        mov cx, 1
        call read_lba
        pop eax
        jnc .ok
        FAIL "int 13h AH=42h: a one-sector read failed"
        ret
.ok:    push es
        push di
        mov di, BUF_SEG
        mov es, di
        xor di, di
        call check_stamp
        pop di
        pop es
        ret

; check_stamp: ES:DI = a sector read for LBA EAX; its stamp must be EAX and NOT EAX.
check_stamp:
        push ebx
        cmp [es:di], eax
        jne .bad
        mov ebx, eax
        not ebx
        cmp [es:di + 508], ebx
        je .ok
.bad:   FAIL "int 13h: a sector's stamp is not its LBA (wrong data)"
        PUTS "PROBE bad_stamp lba="
        call put_dec32
        PUTS " found="
        push eax
        mov eax, [es:di]
        call put_dec32
        pop eax
        call newline
.ok:    pop ebx
        ret

; int 16h: no key waiting; then one typed on the console (the test script types "k").
test_keyboard:
        mov ah, 0x01
        int 0x16
        CHECK jz, "int 16h AH=01h: a key is waiting before anyone typed"
        PUTS "PROBE press a key", 13, 10
        xor ah, ah
        int 0x16
        PUTS "PROBE key="
        call put_hex16
        call newline
        mov ah, 0x01
        int 0x16
        CHECK jz, "int 16h AH=01h: the key is still waiting after AH=00h took it"
        ret

; ---- data ---------------------------------------------------------------------------------------------
failures:       dw 0
boot_drive:     db 0
base_kib:       dw 0
ram_top:        dd 0
ticks:          dw 0
pci_bdf:        dw 0
sectors:        dd 0
cyls:           dw 0
heads:          dw 0
spt:            dw 0
chs_lba:        dd 0
dap:            times 0x18 db 0
e820_buf:       times 24 db 0
edd_params:     times 0x4A db 0
scratch:        times 512 db 0

probe_end:
PROBE_SECTORS   equ (probe_end - start + 511) / 512
        times PROBE_SECTORS * 512 - ($ - $$) db 0
