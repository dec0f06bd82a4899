; int13.asm - int 13h, fixed disk services for drive 80h, the virtio-blk disk (Ralf Brown's interrupt
; list, INT 13h; Phoenix "Enhanced Disk Drive Specification" 3.0 for AH=41h-48h). No diskette drives:
; DL < 80h, like any other absent drive, gets CF=1, AH=01h.
; Results: AH = status (also kept in BDA 0x474), CF = 1 on error.

int13_handler:
        ENTER_FRAME
        cld
        mov ax, EBDA_SEG
        mov ds, ax
        cmp byte [bp + R_DL], 0x80
        jne int13_bad
        cmp word [EBDA_VBLK_IO], 0
        je int13_bad
        mov al, [bp + R_AH]
        mov si, int13_functions
.find:  cmp byte [cs:si], 0xFF
        je int13_bad
        cmp [cs:si], al
        je .found
        add si, 3
        jmp .find
.found: jmp [cs:si + 1]

int13_functions:
        db 0x00
        dw int13_ok                     ; reset disk system
        db 0x01
        dw int13_last_status            ; status of last operation
        db 0x02
        dw int13_read                   ; read sectors (CHS)
        db 0x03
        dw int13_write                  ; write sectors (CHS)
        db 0x04
        dw int13_ok                     ; verify sectors
        db 0x08
        dw int13_params                 ; drive parameters
        db 0x0C
        dw int13_ok                     ; seek
        db 0x0D
        dw int13_ok                     ; alternate reset
        db 0x10
        dw int13_ok                     ; test drive ready
        db 0x11
        dw int13_ok                     ; recalibrate
        db 0x15
        dw int13_type                   ; disk type
        db 0x41
        dw int13_edd_check              ; EDD installation check
        db 0x42
        dw int13_ext_read               ; extended read
        db 0x43
        dw int13_ext_write              ; extended write
        db 0x44
        dw int13_ok                     ; extended verify
        db 0x47
        dw int13_ok                     ; extended seek
        db 0x48
        dw int13_ext_params             ; extended drive parameters
        db 0xFF

int13_bad:
        mov al, DISK_BAD_PARAM
        jmp int13_status
int13_ok:
        mov al, DISK_OK
; int13_status: AL = status -> AH, BDA 0x474, CF.
int13_status:
        mov [bp + R_AH], al
        push es
        push BDA_SEG
        pop es
        mov [es:BDA_DISK_STATUS], al
        pop es
        CLEAR_CF
        or al, al
        jz int13_exit
        SET_CF
int13_exit:
        LEAVE_FRAME

; AH=01h: AH = status of the last operation.
int13_last_status:
        push BDA_SEG
        pop es
        mov al, [es:BDA_DISK_STATUS]
        mov [bp + R_AH], al
        CLEAR_CF
        or al, al
        jz int13_exit
        SET_CF
        jmp int13_exit

; AH=02h/03h: AL = count, CH = cylinder bits 0-7, CL = sector (bits 0-5) | cylinder bits 8-9 (bits
; 6-7), DH = head, ES:BX = buffer. Returns AL = sectors transferred.
int13_read:
        mov byte [EBDA_REQ_WRITE], 0
        jmp int13_chs
int13_write:
        mov byte [EBDA_REQ_WRITE], 1
int13_chs:
        movzx cx, byte [bp + R_AL]
        or cx, cx
        jz int13_bad
        mov al, [bp + R_CL]
        and ax, 0x3F                    ; sector, 1-based
        jz int13_bad
        cmp ax, [EBDA_DISK_SPT]
        ja int13_bad
        movzx esi, ax
        movzx ax, byte [bp + R_DH]
        cmp ax, [EBDA_DISK_HEADS]
        jae int13_bad
        movzx edi, ax
        movzx eax, byte [bp + R_CL]
        shl ax, 2
        mov al, [bp + R_CH]             ; AX = cylinder (10 bits)
        and ax, 0x3FF
        cmp ax, [EBDA_DISK_CYLS]
        jae int13_bad
        ; LBA = (cylinder * heads + head) * sectors per track + sector - 1
        movzx ebx, word [EBDA_DISK_HEADS]
        mul ebx
        add eax, edi
        movzx ebx, word [EBDA_DISK_SPT]
        mul ebx
        lea eax, [eax + esi - 1]
        xor edx, edx
        movzx ebx, word [bp + R_ES]
        shl ebx, 4
        movzx esi, word [bp + R_BX]
        add ebx, esi                    ; physical buffer address
        call disk_transfer
        mov [bp + R_AL], cl
        jmp int13_status

; AH=08h: CH = last cylinder bits 0-7, CL = sectors per track | last cylinder bits 8-9 in bits 6-7,
; DH = last head, DL = number of hard disks; AX = 0.
int13_params:
        mov ax, [EBDA_DISK_CYLS]
        dec ax
        mov [bp + R_CH], al
        shr ax, 2
        and al, 0xC0
        or al, [EBDA_DISK_SPT]
        mov [bp + R_CL], al
        mov al, [EBDA_DISK_HEADS]
        dec al
        mov [bp + R_DH], al
        push BDA_SEG
        pop es
        mov al, [es:BDA_DISK_COUNT]
        mov [bp + R_DL], al
        mov byte [bp + R_AL], 0
        jmp int13_ok

; AH=15h: AH = 03h (fixed disk), CX:DX = sectors reachable through CHS.
int13_type:
        movzx eax, word [EBDA_DISK_CYLS]
        movzx ebx, word [EBDA_DISK_HEADS]
        mul ebx
        movzx ebx, word [EBDA_DISK_SPT]
        mul ebx
        mov [bp + R_DX], ax
        shr eax, 16
        mov [bp + R_CX], ax
        push BDA_SEG
        pop es
        mov byte [es:BDA_DISK_STATUS], DISK_OK
        mov byte [bp + R_AH], 0x03
        CLEAR_CF
        jmp int13_exit

; AH=41h, BX=55AAh: BX = AA55h, AH = 30h (EDD 3.0), CX = 0001h (the fixed disk access subset:
; functions 42h-44h, 47h, 48h).
int13_edd_check:
        cmp word [bp + R_BX], 0x55AA
        jne int13_bad
        mov word [bp + R_BX], 0xAA55
        mov byte [bp + R_AH], 0x30
        mov word [bp + R_CX], 0x0001
        CLEAR_CF
        jmp int13_exit

; AH=42h/43h: DS:SI = disk address packet (EDD 3.0 table 3): +0 size (10h or 18h), +2 block count,
; +4 buffer offset:segment (FFFF:FFFF = use the 64-bit flat address at +10h), +8 starting LBA (u64).
; On return the block count holds the blocks transferred.
int13_ext_read:
        mov byte [EBDA_REQ_WRITE], 0
        jmp int13_ext_rw
int13_ext_write:
        mov byte [EBDA_REQ_WRITE], 1
int13_ext_rw:
        mov es, [bp + R_DS]
        mov di, [bp + R_SI]
        cmp byte [es:di], 0x10
        jb int13_bad
        mov cx, [es:di + 2]
        mov ebx, [es:di + 4]
        cmp ebx, 0xFFFFFFFF
        jne .segoff
        cmp byte [es:di], 0x18
        jb .badpkt
        cmp dword [es:di + 0x14], 0     ; buffers above 4 GiB cannot exist here
        jne .badpkt
        mov ebx, [es:di + 0x10]
        jmp .go
.segoff:
        movzx eax, bx
        shr ebx, 16
        shl ebx, 4
        add ebx, eax
.go:    mov eax, [es:di + 8]
        mov edx, [es:di + 12]
        call disk_transfer
        mov [es:di + 2], cx
        jmp int13_status
.badpkt:
        mov word [es:di + 2], 0
        jmp int13_bad

; AH=48h: DS:SI = result buffer, its first word the caller's buffer size. Fills the EDD 1.x part
; (26 bytes), the 2.x DPTE pointer (30 bytes; FFFF:FFFF, none) and, for 66- or 74-byte buffers, the
; 3.0 device path: host bus "PCI", interface "SCSI", the PCI bus/device/function of the disk.
int13_ext_params:
        mov es, [bp + R_DS]
        mov di, [bp + R_SI]
        mov dx, [es:di]                 ; caller's buffer size
        cmp dx, 0x1A
        jb int13_bad
        mov word [es:di], 0x1A
        ; geometry: CHS is "valid" (flag bit 1) if the disk fits 16383 cylinders of it
        movzx ebx, word [EBDA_DISK_HEADS]
        imul ebx, ebx, 63
        mov eax, [EBDA_VBLK_CAP]
        cmp dword [EBDA_VBLK_CAP + 4], 0
        jne .big
        push edx
        xor edx, edx
        div ebx
        pop edx
        cmp eax, 16383
        ja .big
        mov word [es:di + 0x02], 0x0002
        jmp .cyls
.big:   mov word [es:di + 0x02], 0x0000
        mov eax, 16383
.cyls:  mov [es:di + 0x04], eax
        movzx eax, word [EBDA_DISK_HEADS]
        mov [es:di + 0x08], eax
        movzx eax, word [EBDA_DISK_SPT]
        mov [es:di + 0x0C], eax
        mov eax, [EBDA_VBLK_CAP]
        mov [es:di + 0x10], eax
        mov eax, [EBDA_VBLK_CAP + 4]
        mov [es:di + 0x14], eax
        mov word [es:di + 0x18], 512
        cmp dx, 0x1E
        jb int13_ok
        mov word [es:di], 0x1E
        mov dword [es:di + 0x1A], 0xFFFFFFFF
        cmp dx, 0x42
        jb int13_ok
        ; EDD 3.0: key, length of the device path information (from the key to the checksum)
        mov bx, 0x42
        mov cl, 0x24
        cmp dx, 0x4A
        jb .edd3
        mov bx, 0x4A                    ; the longer layout has a 16-byte device path
        mov cl, 0x2C
.edd3:  mov [es:di], bx
        mov word [es:di + 0x1E], 0xBEDD
        mov [es:di + 0x20], cl
        mov byte [es:di + 0x21], 0
        mov word [es:di + 0x22], 0
        mov dword [es:di + 0x24], 'PCI '
        mov dword [es:di + 0x28], 'SCSI'
        mov dword [es:di + 0x2C], '    '
        mov ax, [EBDA_VBLK_BDF]         ; interface path: bus, device, function, channel 0
        mov [es:di + 0x30], ah
        mov al, [EBDA_VBLK_BDF]
        shr al, 3
        mov [es:di + 0x31], al
        mov al, [EBDA_VBLK_BDF]
        and al, 7
        mov [es:di + 0x32], al
        mov byte [es:di + 0x33], 0
        mov dword [es:di + 0x34], 0
        push di                         ; device path (LUN 0) and reserved bytes: zero
        add di, 0x38
        mov cx, bx
        sub cx, 0x38
        xor al, al
        rep stosb
        pop di
        ; checksum: bytes 1Eh through the last one sum to zero
        mov cx, bx
        sub cx, 0x1E + 1                ; the bytes before the (still zero) checksum byte
        add di, 0x1E
        xor al, al
.sum:   add al, [es:di]
        inc di
        loop .sum
        neg al
        mov [es:di], al
        jmp int13_ok

; disk_transfer: DS = EBDA. EDX:EAX = first sector, CX = count, EBX = physical buffer address,
; EBDA_REQ_WRITE = direction. Checks the request and runs it. Returns AL = status, CX = sectors
; transferred (all or none). Preserves ES, DI.
disk_transfer:
        push esi
        push edi
        movzx ecx, cx
        or cx, cx
        jz .ok                          ; nothing to do
        cmp cx, 128                     ; at most 64 KiB per call, as SeaBIOS
        ja .boundary
        ; the whole range must lie on the disk: LBA + count <= capacity
        mov esi, eax
        mov edi, edx
        add esi, ecx
        adc edi, 0
        cmp edi, [EBDA_VBLK_CAP + 4]
        ja .past_end
        jb .in_disk
        cmp esi, [EBDA_VBLK_CAP]
        ja .past_end
.in_disk:
        ; the buffer must be RAM the caller may use: below the ring, or from 1 MiB to the top of RAM
        movzx esi, cx
        shl esi, 9
        add esi, ebx                    ; end of the buffer
        jc .bad_buffer
        cmp esi, [EBDA_LOWMEM_END]
        jbe .buffer_ok
        cmp ebx, 0x100000
        jb .bad_buffer
        cmp esi, [EBDA_RAM_TOP]
        ja .bad_buffer
.buffer_ok:
        mov [EBDA_VBLK_HDR + 8], eax
        mov [EBDA_VBLK_HDR + 12], edx
        mov [EBDA_REQ_COUNT], cx
        mov [EBDA_REQ_BUF], ebx
        call vblk_io
        jnc .out
        xor cx, cx
        jmp .out
.ok:    mov al, DISK_OK
        jmp .out
.boundary:
        mov al, 0x09                    ; data boundary error
        jmp .fail
.past_end:
        mov al, DISK_NOT_FOUND
        jmp .fail
.bad_buffer:
        mov al, DISK_BAD_PARAM
.fail:  xor cx, cx
.out:   pop edi
        pop esi
        ret
