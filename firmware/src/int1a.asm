; int1a.asm - int 1Ah: time of day (the BDA tick count and the MC146818 RTC; Ralf Brown's interrupt
; list, INT 1Ah AH=00h-05h) and the real-mode PCI BIOS (PCI BIOS Specification 2.1, AH=B1h).

int1a_handler:
        ENTER_FRAME
        cld
        push BDA_SEG
        pop ds
        mov ah, [bp + R_AH]
        cmp ah, 0xB1
        je pcibios
        cmp ah, 0x00
        je int1a_get_ticks
        cmp ah, 0x01
        je int1a_set_ticks
        cmp ah, 0x02
        je int1a_get_time
        cmp ah, 0x03
        je int1a_set_time
        cmp ah, 0x04
        je int1a_get_date
        cmp ah, 0x05
        je int1a_set_date
int1a_error:
        SET_CF
        jmp int1a_exit
int1a_success:
        CLEAR_CF
int1a_exit:
        LEAVE_FRAME

; AH=00h: CX:DX = ticks since midnight, AL = nonzero if midnight passed since the last read.
int1a_get_ticks:
        cli                             ; the tick count must not change half-read
        mov eax, [BDA_TICKS]
        mov [bp + R_DX], ax
        shr eax, 16
        mov [bp + R_CX], ax
        xor al, al
        xchg al, [BDA_MIDNIGHT]
        mov [bp + R_AL], al
        jmp int1a_success

; AH=01h: ticks = CX:DX.
int1a_set_ticks:
        cli
        mov ax, [bp + R_CX]
        shl eax, 16
        mov ax, [bp + R_DX]
        mov [BDA_TICKS], eax
        mov byte [BDA_MIDNIGHT], 0
        jmp int1a_success

; AH=02h: CH = hours, CL = minutes, DH = seconds (BCD), DL = 1 if daylight saving time.
int1a_get_time:
        call rtc_wait_update
        jc int1a_error
        mov al, CMOS_HOUR
        call cmos_read
        mov [bp + R_CH], al
        mov al, CMOS_MIN
        call cmos_read
        mov [bp + R_CL], al
        mov al, CMOS_SEC
        call cmos_read
        mov [bp + R_DH], al
        mov al, CMOS_STATUS_B
        call cmos_read
        and al, 1
        mov [bp + R_DL], al
        jmp int1a_success

; AH=03h: set the RTC time from CH, CL, DH (BCD) and DL (DST).
int1a_set_time:
        call rtc_wait_update
        mov al, CMOS_HOUR
        mov ah, [bp + R_CH]
        call cmos_write
        mov al, CMOS_MIN
        mov ah, [bp + R_CL]
        call cmos_write
        mov al, CMOS_SEC
        mov ah, [bp + R_DH]
        call cmos_write
        mov al, CMOS_STATUS_B
        call cmos_read
        and al, 0xFE
        mov ah, [bp + R_DL]
        and ah, 1
        or ah, al
        mov al, CMOS_STATUS_B
        call cmos_write
        jmp int1a_success

; AH=04h: CH = century, CL = year, DH = month, DL = day (BCD).
int1a_get_date:
        call rtc_wait_update
        jc int1a_error
        mov al, CMOS_CENTURY
        call cmos_read
        mov [bp + R_CH], al
        mov al, CMOS_YEAR
        call cmos_read
        mov [bp + R_CL], al
        mov al, CMOS_MONTH
        call cmos_read
        mov [bp + R_DH], al
        mov al, CMOS_DAY
        call cmos_read
        mov [bp + R_DL], al
        jmp int1a_success

; AH=05h: set the date from CH, CL, DH, DL (BCD).
int1a_set_date:
        call rtc_wait_update
        mov al, CMOS_CENTURY
        mov ah, [bp + R_CH]
        call cmos_write
        mov al, CMOS_YEAR
        mov ah, [bp + R_CL]
        call cmos_write
        mov al, CMOS_MONTH
        mov ah, [bp + R_DH]
        call cmos_write
        mov al, CMOS_DAY
        mov ah, [bp + R_DL]
        call cmos_write
        jmp int1a_success

; cmos_write: register AL = AH.
cmos_write:
        out CMOS_INDEX, al
        mov al, ah
        out CMOS_DATA, al
        ret

; rtc_wait_update: wait while the RTC updates its registers (status A bit 7, about 2 ms once a
; second), so a read sees one consistent time. CF=1 if it never ends (no working RTC).
rtc_wait_update:
        push cx
        mov cx, 0xFFFF
.wait:  mov al, CMOS_STATUS_A
        call cmos_read
        test al, 0x80
        jz .ok
        loop .wait
        stc
        pop cx
        ret
.ok:    clc
        pop cx
        ret

; rtc_init_ticks (POST): BDA tick count = the RTC's time of day in 18.2 Hz ticks.
rtc_init_ticks:
        push ds
        pushad
        push BDA_SEG
        pop ds
        call rtc_wait_update
        jc .done
        mov al, CMOS_HOUR
        call rtc_read_binary
        movzx ebx, al
        imul ebx, ebx, 60
        mov al, CMOS_MIN
        call rtc_read_binary
        movzx eax, al
        add ebx, eax
        imul ebx, ebx, 60
        mov al, CMOS_SEC
        call rtc_read_binary
        movzx eax, al
        add eax, ebx                    ; seconds since midnight
        cmp eax, 86400
        jae .done                       ; nonsense from the RTC: leave the count at 0
        mov ecx, TICKS_PER_DAY
        mul ecx
        mov ecx, 86400
        div ecx
        mov [BDA_TICKS], eax
.done:  popad
        pop ds
        ret

; rtc_read_binary: AL = RTC register -> AL = its value in binary (status B bit 2 clear = BCD).
rtc_read_binary:
        push bx
        mov bl, al
        mov al, CMOS_STATUS_B
        call cmos_read
        mov bh, al
        mov al, bl
        call cmos_read
        test bh, 0x04
        jnz .out
        mov bl, al                      ; BCD -> binary: tens * 10 + units
        shr al, 4
        mov bh, 10
        mul bh
        and bl, 0x0F
        add al, bl
.out:   pop bx
        ret

; ---- PCI BIOS (AH=B1h). Success: AH=00h, CF=0; failure: AH = error code, CF=1. ------------------
PCIBIOS_SUCCESS       equ 0x00
PCIBIOS_UNSUPPORTED   equ 0x81
PCIBIOS_BAD_VENDOR    equ 0x83
PCIBIOS_NOT_FOUND     equ 0x86
PCIBIOS_BAD_REGISTER  equ 0x87

pcibios:
        mov al, [bp + R_AL]
        cmp al, 0x01
        je pcibios_check
        cmp al, 0x02
        je pcibios_find_device
        cmp al, 0x03
        je pcibios_find_class
        cmp al, 0x08
        jb .unsupported
        cmp al, 0x0D
        jbe pcibios_config
.unsupported:
        mov al, PCIBIOS_UNSUPPORTED
pcibios_fail:
        mov [bp + R_AH], al
        jmp int1a_error
pcibios_ok:
        mov byte [bp + R_AH], PCIBIOS_SUCCESS
        jmp int1a_success

; AL=01h: installation check. EDX = 'PCI ', AL = 01h (configuration mechanism #1), BX = 0210h
; (version 2.10), CL = last bus (0), EDI = 0 (no protected-mode entry point).
pcibios_check:
        mov dword [bp + R_EDX], 0x20494350
        mov byte [bp + R_AL], 0x01
        mov word [bp + R_BX], 0x0210
        mov byte [bp + R_CL], 0
        mov dword [bp + R_EDI], 0
        jmp pcibios_ok

; AL=02h: CX = device ID, DX = vendor ID, SI = index -> BH = bus, BL = device/function.
pcibios_find_device:
        cmp word [bp + R_DX], 0xFFFF
        jne .go
        mov al, PCIBIOS_BAD_VENDOR
        jmp pcibios_fail
.go:    mov edx, [bp + R_ECX]
        shl edx, 16
        mov dx, [bp + R_DX]             ; EDX = device << 16 | vendor, as config register 0 reads
        mov cl, 0x00
        mov edi, 0xFFFFFFFF             ; compare all 32 bits
        jmp pcibios_find

; AL=03h: ECX = class code (bits 23-0), SI = index -> BH = bus, BL = device/function.
pcibios_find_class:
        mov edx, [bp + R_ECX]
        shl edx, 8                      ; register 08h: class code << 8 | revision
        mov cl, 0x08
        mov edi, 0xFFFFFF00             ; ignore the revision
; pcibios_find: compare config register CL (masked with EDI) to EDX on every function of bus 0;
; return the SI-th match.
pcibios_find:
        mov si, [bp + R_SI]
        xor bx, bx
.next:  push cx
        mov cl, 0x00
        call pci_read16
        pop cx
        cmp ax, 0xFFFF
        je .skip
        call pci_read32
        and eax, edi
        cmp eax, edx
        jne .skip
        or si, si
        jz .found
        dec si
.skip:  inc bx
        cmp bx, 0x100
        jb .next
        mov al, PCIBIOS_NOT_FOUND
        jmp pcibios_fail
.found: mov [bp + R_BX], bx
        jmp pcibios_ok

; AL=08h/09h/0Ah read a byte/word/dword into CL/CX/ECX; AL=0Bh/0Ch/0Dh write CL/CX/ECX.
; BH = bus, BL = device/function, DI = register (aligned to the access size).
pcibios_config:
        mov bx, [bp + R_BX]
        or bh, bh
        jnz .bad                        ; only bus 0 exists
        mov di, [bp + R_DI]
        cmp di, 0xFF
        ja .bad
        mov ax, di
        mov cl, al
        mov al, [bp + R_AL]
        cmp al, 0x09
        je .rw16
        cmp al, 0x0C
        je .ww16
        cmp al, 0x0A
        je .rd32
        cmp al, 0x0D
        je .wd32
        cmp al, 0x08
        je .rb8
        mov al, [bp + R_CL]             ; 0Bh
        call pci_write8
        jmp pcibios_ok
.rb8:   call pci_read8
        mov [bp + R_CL], al
        jmp pcibios_ok
.rw16:  test cl, 1
        jnz .bad
        call pci_read16
        mov [bp + R_CX], ax
        jmp pcibios_ok
.ww16:  test cl, 1
        jnz .bad
        mov ax, [bp + R_CX]
        call pci_write16
        jmp pcibios_ok
.rd32:  test cl, 3
        jnz .bad
        call pci_read32
        mov [bp + R_ECX], eax
        jmp pcibios_ok
.wd32:  test cl, 3
        jnz .bad
        mov eax, [bp + R_ECX]
        call pci_write32
        jmp pcibios_ok
.bad:   mov al, PCIBIOS_BAD_REGISTER
        jmp pcibios_fail
