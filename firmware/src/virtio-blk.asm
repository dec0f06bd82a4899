; virtio-blk.asm - a minimal polled driver for the transitional virtio-blk device (1AF4:1001) through
; its legacy I/O BAR0 (virtio 0.9.5, "Virtio Header" and "Virtqueue" sections; virtio 1.0 section 4.1.4.8
; "Legacy Interfaces: A Note on PCI Device Layout"). One request at a time, no interrupts, no features.
;
; The queue lives in conventional memory just below the EBDA, in the legacy layout (4 KiB aligned;
; descriptors, then the available ring, then the used ring on the next 4 KiB boundary). Its size is
; fixed by the device (256 on QEMU: 10 KiB), so conventional memory (BDA 0x413, E820) ends where the
; ring starts; the memory stays reserved after boot, so the device never writes into RAM the OS owns.

VIRTIO_HOST_FEATURES  equ 0             ; u32, device features (bits 0-31)
VIRTIO_GUEST_FEATURES equ 4             ; u32, features the driver accepts
VIRTIO_QUEUE_PFN      equ 8             ; u32, ring address >> 12 (0 resets the device)
VIRTIO_QUEUE_NUM      equ 12            ; u16, queue size (read only)
VIRTIO_QUEUE_SEL      equ 14            ; u16
VIRTIO_QUEUE_NOTIFY   equ 16            ; u16, write the queue index to kick it
VIRTIO_STATUS         equ 18            ; u8
VIRTIO_ISR            equ 19            ; u8, read clears
VIRTIO_CONFIG         equ 20            ; device config (no MSI-X): virtio_blk_config.capacity (u64) first

VIRTIO_S_ACKNOWLEDGE  equ 1
VIRTIO_S_DRIVER       equ 2
VIRTIO_S_DRIVER_OK    equ 4
VIRTIO_S_FAILED       equ 0x80

VRING_DESC_F_NEXT     equ 1
VRING_DESC_F_WRITE    equ 2             ; the device writes this buffer

VIRTIO_BLK_T_IN       equ 0             ; read
VIRTIO_BLK_T_OUT      equ 1             ; write
VIRTIO_BLK_S_OK       equ 0

VBLK_MAX_QUEUE        equ 1024          ; keeps the ring inside one 64 KiB real-mode segment
VBLK_TIMEOUT_CLOCKS   equ 10 * PIT_HZ   ; 10 s without an answer: give up on the request

; vblk_init (POST): DS-independent. Starts the disk pci_init found, reads its capacity, derives the
; CHS geometry, reserves the ring's memory and registers the disk as 80h in the BDA.
vblk_init:
        push ds
        push es
        pushad
        mov ax, EBDA_SEG
        mov ds, ax
        cmp word [EBDA_VBLK_IO], 0
        je .none
        call vblk_start
        jc .fail
        mov dx, [EBDA_VBLK_IO]
        add dx, VIRTIO_CONFIG
        in eax, dx
        mov [EBDA_VBLK_CAP], eax
        add dx, 4
        in eax, dx
        mov [EBDA_VBLK_CAP + 4], eax
        call disk_geometry
        mov ax, BDA_SEG
        mov es, ax
        mov byte [es:BDA_DISK_COUNT], 1
        movzx eax, word [EBDA_VBLK_RINGSEG]
        shl eax, 4
        mov [EBDA_LOWMEM_END], eax
        shr eax, 10
        mov [es:BDA_BASEMEM_KIB], ax
        PRINT "Disk 80h: virtio-blk, "
        mov eax, [EBDA_VBLK_CAP]
        mov edx, [EBDA_VBLK_CAP + 4]
        call print_dec32                ; (the high half is shown only if a disk is over 2 TiB)
        or edx, edx
        jz .small
        PRINT "+ 2^32 * "
        mov eax, edx
        call print_dec32
.small: PRINT " sectors, CHS "
        movzx eax, word [EBDA_DISK_CYLS]
        call print_dec32
        mov al, '/'
        call serial_putc
        movzx eax, word [EBDA_DISK_HEADS]
        call print_dec32
        mov al, '/'
        call serial_putc
        movzx eax, word [EBDA_DISK_SPT]
        call print_dec32
        PRINT ", queue "
        movzx eax, word [EBDA_VBLK_QSIZE]
        call print_dec32
        PRINT " at "
        mov eax, [EBDA_LOWMEM_END]
        call print_hex32
        call print_crlf
        jmp .out
.fail:  mov word [EBDA_VBLK_IO], 0
        PRINT "Disk: virtio-blk queue size "
        movzx eax, word [EBDA_VBLK_QSIZE]
        call print_dec32
        PRINT " not usable (need a power of two up to 1024); no disk", 13, 10
        jmp .out
.none:  PRINT "Disk: none (no virtio-blk device on PCI bus 0)", 13, 10
.out:   popad
        pop es
        pop ds
        ret

; vblk_start: DS = EBDA. Device reset and initialisation in the order of virtio 0.9.5 section 2.2.1:
; reset, ACKNOWLEDGE, DRIVER, features (none), queue 0 set up, DRIVER_OK. CF=1 if the queue size is
; unusable (the device is then marked FAILED). Also used to recover after a timed-out request.
vblk_start:
        pushad
        push es
        mov bx, [EBDA_VBLK_IO]
        lea dx, [bx + VIRTIO_STATUS]
        xor al, al
        out dx, al                      ; reset
        mov al, VIRTIO_S_ACKNOWLEDGE
        out dx, al
        mov al, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER
        out dx, al
        lea dx, [bx + VIRTIO_GUEST_FEATURES]
        xor eax, eax
        out dx, eax                     ; no optional features (not even the legacy BAD_FEATURE bit 30)
        lea dx, [bx + VIRTIO_QUEUE_SEL]
        out dx, ax                      ; queue 0
        lea dx, [bx + VIRTIO_QUEUE_NUM]
        in ax, dx
        mov [EBDA_VBLK_QSIZE], ax
        or ax, ax
        jz .bad
        cmp ax, VBLK_MAX_QUEUE
        ja .bad
        mov cx, ax
        dec cx
        test ax, cx
        jnz .bad

        ; legacy ring layout for queue size Q: descriptors 16*Q bytes, available ring 6 + 2*Q bytes
        ; (flags, idx, ring[Q], used_event), used ring 6 + 8*Q bytes from the next 4 KiB boundary
        movzx eax, ax
        mov ecx, eax
        shl ecx, 4
        lea ecx, [ecx + eax * 2 + 6]
        add ecx, 0xFFF
        and ecx, ~0xFFF
        mov [EBDA_VBLK_USEDOFF], cx
        lea ecx, [ecx + eax * 8 + 6]    ; whole ring length
        mov edi, EBDA_PHYS
        sub edi, ecx
        and edi, ~0xFFF                 ; 4 KiB aligned, ending below the EBDA
        shr edi, 4
        mov [EBDA_VBLK_RINGSEG], di
        mov es, di
        xor di, di
        xor al, al
        rep stosb                       ; a clean ring: all indices 0
        mov word [EBDA_VBLK_AVAIL], 0
        mov ax, es
        movzx eax, ax
        shr eax, 8                      ; page frame number = address >> 12
        lea dx, [bx + VIRTIO_QUEUE_PFN]
        out dx, eax
        lea dx, [bx + VIRTIO_STATUS]
        mov al, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK
        out dx, al
        pop es
        popad
        clc
        ret
.bad:   lea dx, [bx + VIRTIO_STATUS]
        mov al, VIRTIO_S_FAILED
        out dx, al
        pop es
        popad
        stc
        ret

; disk_geometry: DS = EBDA. The CHS geometry int 13h AH=02h/08h use, from the capacity: 63 sectors
; per track and the heads of the usual LBA-assist translation (16 up to 504 MiB, then 32, 64, 128,
; 255), cylinders = capacity / (heads * 63), at most 1024.
disk_geometry:
        pushad
        mov eax, [EBDA_VBLK_CAP]
        cmp dword [EBDA_VBLK_CAP + 4], 0
        je .fits
        mov eax, 0xFFFFFFFF             ; any disk this large gets the largest geometry
.fits:  mov si, lba_assist_heads
.pick:  movzx ebx, byte [cs:si]
        inc si
        cmp bl, 255
        je .calc
        imul ecx, ebx, 63 * 1024        ; sectors this head count reaches with 1024 cylinders
        cmp eax, ecx
        ja .pick
.calc:  mov [EBDA_DISK_HEADS], bx
        mov word [EBDA_DISK_SPT], 63
        imul ecx, ebx, 63
        xor edx, edx
        div ecx
        cmp eax, 1024
        jbe .cyls
        mov eax, 1024
.cyls:  or eax, eax                     ; a disk smaller than one cylinder still has one
        jnz .store
        inc eax
.store: mov [EBDA_DISK_CYLS], ax
        popad
        ret

lba_assist_heads:
        db 16, 32, 64, 128, 255

; vblk_io: DS = EBDA. One request: EBDA_REQ_WRITE (0 read, 1 write), EBDA_REQ_COUNT sectors (1..255)
; at sector EBDA_VBLK_HDR+8 (u64) to/from the physical buffer EBDA_REQ_BUF. The caller has checked
; the range. Returns AL = int 13h status, CF=1 on error. Preserves everything else.
;   descriptor 0: the 16-byte request header (device reads it)
;   descriptor 1: the data buffer (the device writes it on a read)
;   descriptor 2: the status byte (device writes it)
vblk_io:
        push ebx
        push ecx
        push edx
        push esi
        push fs
        mov fs, [EBDA_VBLK_RINGSEG]
        movzx eax, byte [EBDA_REQ_WRITE]        ; VIRTIO_BLK_T_IN or VIRTIO_BLK_T_OUT
        mov [EBDA_VBLK_HDR], eax
        mov dword [EBDA_VBLK_HDR + 4], 0        ; ioprio
        mov byte [EBDA_VBLK_STATUS], 0xFF

        mov dword [fs:0], EBDA_PHYS + EBDA_VBLK_HDR
        mov dword [fs:4], 0
        mov dword [fs:8], 16
        mov word [fs:12], VRING_DESC_F_NEXT
        mov word [fs:14], 1

        mov eax, [EBDA_REQ_BUF]
        mov [fs:16], eax
        mov dword [fs:20], 0
        movzx eax, word [EBDA_REQ_COUNT]
        shl eax, 9
        mov [fs:24], eax
        mov ax, VRING_DESC_F_NEXT
        cmp byte [EBDA_REQ_WRITE], 0
        jne .flags
        or ax, VRING_DESC_F_WRITE
.flags: mov [fs:28], ax
        mov word [fs:30], 2

        mov dword [fs:32], EBDA_PHYS + EBDA_VBLK_STATUS
        mov dword [fs:36], 0
        mov dword [fs:40], 1
        mov word [fs:44], VRING_DESC_F_WRITE
        mov word [fs:46], 0

        ; available ring: ring[idx % Q] = head descriptor 0, then publish idx + 1
        mov si, [EBDA_VBLK_QSIZE]
        shl si, 4                       ; the available ring follows the descriptors
        mov ax, [EBDA_VBLK_AVAIL]
        mov bx, [EBDA_VBLK_QSIZE]
        dec bx
        and bx, ax
        shl bx, 1
        mov word [fs:si + 4 + bx], 0
        inc ax
        mov [EBDA_VBLK_AVAIL], ax
        mov [fs:si + 2], ax

        mov dx, [EBDA_VBLK_IO]
        add dx, VIRTIO_QUEUE_NOTIFY
        xor ax, ax
        out dx, ax                      ; kick queue 0

        ; wait until the used ring's idx catches up with ours (one request in flight: equal = done);
        ; interrupts are enabled meanwhile, as disk BIOSes do, so the tick count keeps up
        sti
        call pit_clock_start
        mov si, [EBDA_VBLK_USEDOFF]
.poll:  mov ax, [fs:si + 2]
        cmp ax, [EBDA_VBLK_AVAIL]
        je .done
        pause
        call pit_clock_read
        cmp eax, VBLK_TIMEOUT_CLOCKS
        jb .poll
        call vblk_start                 ; the request may still be pending: start afresh
        mov al, DISK_TIMEOUT
        stc
        jmp .out
.done:  cmp byte [EBDA_VBLK_STATUS], VIRTIO_BLK_S_OK
        jne .err
        mov al, DISK_OK
        clc
        jmp .out
.err:   mov al, DISK_DEV_ERROR
        stc
.out:   pop fs
        pop esi
        pop edx
        pop ecx
        pop ebx
        ret
