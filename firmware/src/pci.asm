; pci.asm - PCI configuration mechanism #1 (ports 0xCF8/0xCFC, PCI Local Bus spec 2.1 section 3.7.4),
; enumeration of bus 0 with BAR sizing and assignment, and interrupt routing as SeaBIOS does it on
; QEMU's i440FX: PIIX3 PIRQA-D -> IRQ 10, 10, 11, 11 (level triggered), a device in slot S with pin P
; (1 = INTA) on PIRQ (S + P - 2) & 3, which is QEMU's pci_slot_get_pirq.

PCI_IO_START    equ 0xC000
PCI_IO_END      equ 0x10000
PCI_MEM_START   equ 0xE0000000
PCI_MEM_END     equ 0xFEC00000          ; the I/O APIC and the BIOS sit above
PCI_CMD_IO      equ 0x0001
PCI_CMD_MEM     equ 0x0002
PCI_CMD_MASTER  equ 0x0004

PCI_VENDOR_INTEL equ 0x8086
PCI_DEV_PIIX3_ISA equ 0x7000
PCI_DEV_PIIX4_ISA equ 0x7110
PCI_VENDOR_VIRTIO equ 0x1AF4
PCI_DEV_VIRTIO_BLK equ 0x1001           ; transitional virtio-blk (legacy interface in BAR0)

; pci_addr: BX = bus:dev:fn (bus << 8 | dev << 3 | fn), CL = register -> address latched in 0xCF8,
; DX = the data port for that register's byte lane.
pci_addr:
        push eax
        movzx eax, bx
        shl eax, 8
        mov al, cl
        and al, 0xFC
        or eax, 0x80000000
        mov dx, PCI_ADDR
        out dx, eax
        mov dx, PCI_DATA
        mov al, cl
        and al, 3
        or dl, al
        pop eax
        ret

pci_read8:
        push dx
        call pci_addr
        in al, dx
        pop dx
        ret
pci_read16:
        push dx
        call pci_addr
        in ax, dx
        pop dx
        ret
pci_read32:
        push dx
        call pci_addr
        in eax, dx
        pop dx
        ret
pci_write8:
        push dx
        call pci_addr
        out dx, al
        pop dx
        ret
pci_write16:
        push dx
        call pci_addr
        out dx, ax
        pop dx
        ret
pci_write32:
        push dx
        call pci_addr
        out dx, eax
        pop dx
        ret

; pci_init: walk bus 0 (devices 0-31, functions 0-7 when the header says multi-function) and set
; every function up. Uses the EBDA (DS) for the allocation cursors.
pci_init:
        push ds
        mov ax, EBDA_SEG
        mov ds, ax
        mov dword [EBDA_PCI_IONEXT], PCI_IO_START
        mov dword [EBDA_PCI_MEMNEXT], PCI_MEM_START
        xor bx, bx                      ; bus 0, device 0, function 0
.next:  mov cl, 0x00
        call pci_read16                 ; vendor ID; 0xFFFF = nothing there
        cmp ax, 0xFFFF
        je .absent
        call pci_setup_function
        test bl, 7
        jnz .next_fn
        mov cl, 0x0E                    ; function 0: header type bit 7 = multi-function
        call pci_read8
        test al, 0x80
        jnz .next_fn
        jmp .next_dev
.absent:
        test bl, 7                      ; function 0 missing: the whole device is
        jz .next_dev
.next_fn:
        inc bx                          ; function 7 + 1 is function 0 of the next device
        jmp .check
.next_dev:
        and bx, 0xFFF8
        add bx, 8
.check: cmp bx, 0x100                   ; past device 31 of bus 0
        jb .next
        pop ds
        ret

; pci_setup_function: BX = bus:dev:fn of a present function. Prints one line, sizes and assigns its
; BARs, programs the Interrupt Line, enables decoding and bus mastering, and notes the devices the
; rest of the BIOS needs (the PIIX3 ISA bridge, the first virtio-blk disk).
pci_setup_function:
        pushad
        PRINT "PCI 00:"
        mov al, bl
        shr al, 3
        call print_hex8
        mov al, '.'
        call serial_putc
        mov al, bl
        and al, 7
        add al, '0'
        call serial_putc
        mov al, ' '
        call serial_putc
        mov cl, 0x00
        call pci_read32                 ; device ID << 16 | vendor ID
        mov esi, eax
        call print_hex16
        mov al, ':'
        call serial_putc
        mov eax, esi
        shr eax, 16
        call print_hex16

        mov cl, 0x04                    ; command register: decoding off while BARs are sized
        call pci_read16
        and ax, ~(PCI_CMD_IO | PCI_CMD_MEM)
        call pci_write16

        mov cl, 0x0E
        call pci_read8
        and al, 0x7F
        jnz .irq                        ; only type 0 headers (no bridges on this board) have 6 BARs
        mov cl, 0x10                    ; BAR0
.bar:   call pci_size_bar
        add cl, 4
        cmp cl, 0x28
        jb .bar

.irq:   mov cl, 0x3D                    ; Interrupt Pin: 0 none, 1-4 INTA-INTD
        call pci_read8
        or al, al
        jz .cmd
        cmp al, 4
        ja .cmd
        mov ah, bl
        shr ah, 3                       ; slot
        add al, ah
        sub al, 2
        and al, 3                       ; PIRQ (S + P - 2) & 3
        movzx di, al
        mov al, [cs:pirq_irqs + di]
        mov cl, 0x3C                    ; Interrupt Line
        call pci_write8
        push ax
        PRINT " irq "
        pop ax
        movzx eax, al
        call print_dec32

.cmd:   mov cl, 0x04
        call pci_read16
        or ax, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER
        call pci_write16

        cmp esi, (PCI_DEV_PIIX3_ISA << 16) | PCI_VENDOR_INTEL
        je .isa
        cmp esi, (PCI_DEV_PIIX4_ISA << 16) | PCI_VENDOR_INTEL
        je .isa
        cmp esi, (PCI_DEV_VIRTIO_BLK << 16) | PCI_VENDOR_VIRTIO
        je .vblk
        jmp .done

.isa:   call pci_route_pirqs
        PRINT " (ISA bridge: PIRQA-D -> IRQ 10, 10, 11, 11)"
        jmp .done

.vblk:  cmp word [EBDA_VBLK_IO], 0      ; the first virtio-blk disk becomes 80h
        jne .done
        mov cl, 0x10
        call pci_read32
        test al, 1                      ; BAR0 must be the legacy I/O window
        jz .done
        and ax, 0xFFFC
        mov [EBDA_VBLK_IO], ax
        mov [EBDA_VBLK_BDF], bx
        PRINT " (virtio-blk)"

.done:  call print_crlf
        popad
        ret

; pci_size_bar: BX = function, CL = BAR register. Sizes the BAR (write all ones, read the mask back,
; PCI 2.1 section 6.2.5.1), assigns the next aligned address and prints it. A 64-bit memory BAR takes
; the next register too; CL then points at it on return.
pci_size_bar:
        call pci_read32
        mov edi, eax                    ; original value
        mov eax, 0xFFFFFFFF
        call pci_write32
        call pci_read32
        xchg eax, edi
        call pci_write32                ; restore; EDI = size mask
        or edi, edi
        jz .ret                         ; unimplemented BAR
        test edi, 1
        jnz .io

        ; memory BAR: bits 2-1 = type (00 32-bit, 10 64-bit), size = ~(mask & ~0xF) + 1
        mov eax, edi
        and eax, 0xFFFFFFF0
        neg eax                         ; size (a power of two)
        mov edx, [EBDA_PCI_MEMNEXT]
        call align_up                   ; EDX = base aligned to EAX
        mov ebp, edx
        add ebp, eax
        jc .full
        cmp ebp, PCI_MEM_END
        ja .full
        mov [EBDA_PCI_MEMNEXT], ebp
        push eax
        mov eax, edx
        call pci_write32
        PRINT " mem "
        call print_hex32
        pop eax
        mov eax, edi
        and al, 0x06
        cmp al, 0x04                    ; 64-bit: the upper half is zero (below 4 GiB)
        jne .ret
        add cl, 4
        xor eax, eax
        call pci_write32
        ret

        ; I/O BAR: size = ~(mask & ~3) + 1 over 16 bits (the upper half may read as zero)
.io:    mov eax, edi
        or eax, 0xFFFF0000
        and eax, 0xFFFFFFFC
        neg eax
        mov edx, [EBDA_PCI_IONEXT]
        call align_up
        mov ebp, edx
        add ebp, eax
        cmp ebp, PCI_IO_END
        ja .full
        mov [EBDA_PCI_IONEXT], ebp
        mov eax, edx
        call pci_write32
        PRINT " io "
        call print_hex16
        ret

.full:  PRINT " (no room for a BAR)"
        mov eax, edi                    ; still skip the upper half of a 64-bit BAR
        test al, 1
        jnz .ret
        and al, 0x06
        cmp al, 0x04
        jne .ret
        add cl, 4
.ret:   ret

; align_up: EDX rounded up to a multiple of EAX (a power of two).
align_up:
        push eax
        dec eax
        add edx, eax
        not eax
        and edx, eax
        pop eax
        ret

; pci_route_pirqs: BX = the PIIX3 ISA bridge. PIRQ route control registers 0x60-0x63 (PIIX3
; datasheet section 2.3.10) and the ELCR (0x4D0/0x4D1) making IRQ 10 and 11 level triggered.
pci_route_pirqs:
        mov cl, 0x60
        xor di, di
.route: mov al, [cs:pirq_irqs + di]
        call pci_write8
        inc cl
        inc di
        cmp di, 4
        jb .route
        mov dx, ELCR1
        xor al, al
        out dx, al
        mov dx, ELCR2
        mov al, (1 << (10 - 8)) | (1 << (11 - 8))
        out dx, al
        ret

pirq_irqs:
        db 10, 10, 11, 11
