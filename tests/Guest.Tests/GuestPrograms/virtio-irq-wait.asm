; A 64 KiB firmware ROM (-bios) for the asynchronous-completion test: real-mode guest code that drives the
; first virtio-blk disk (PCI 00:03.0) through its legacy (virtio 0.9.5) I/O interface, reads one sector,
; then counts loop iterations until the disk's interrupt arrives. Nothing else runs: no BIOS, no timer.
;   probe port 0x6F0: the test's probe; 1 is written just before the notify, 2 on entry to the IRQ handler
;   results in RAM at 0x500: dd loop iterations, db handler ran, db ISR value read, dw used index
;   ends with a write of 0 to isa-debug-exit (0x501): exit status 1
; Build: nasm -f bin -o rom.bin virtio-irq-wait.asm
BITS 16
ORG 0                               ; runs at F000:0000 (the ROM's alias below 1 MiB)

BAR       equ 0xC000                ; the legacy I/O BAR, assigned here (no BIOS did it)
MARK      equ 0x6F0
QSEG      equ 0x1000                ; virtqueue at physical 0x10000 (PFN 0x10, 4 KiB aligned)
RSEG      equ 0x2000                ; request at physical 0x20000
SECTOR    equ 1                     ; the sector read
RES_LOOPS equ 0x500
RES_DONE  equ 0x504
RES_ISR   equ 0x505
RES_USED  equ 0x506
CFG_ADDR  equ 0xCF8
CFG_DATA  equ 0xCFC

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov dword [RES_LOOPS], 0
    mov byte [RES_DONE], 0

    ; 8259A pair (datasheet ICW1-ICW4): master vectors 08h, slave 70h, cascade on IRQ 2
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x70
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xFB                    ; master: only IRQ 2 (the slave)
    out 0x21, al
    mov al, 0xF7                    ; slave: only IRQ 11
    out 0xA1, al
    mov dx, 0x4D1                   ; ELCR2: IRQ 11 level-triggered, as PCI INTx is
    mov al, 0x08
    out dx, al
    mov word [0x73 * 4], irq11      ; IVT: IRQ 11 = vector 70h + 3
    mov word [0x73 * 4 + 2], 0xF000

    ; PIIX3 (00:01.0) PIRQ route control 60h-63h: every PIRQ to IRQ 11, whichever one slot 3's INTA uses
    mov dx, CFG_ADDR
    mov eax, 0x80000860
    out dx, eax
    mov dx, CFG_DATA
    mov eax, 0x0B0B0B0B
    out dx, eax
    ; virtio-blk (00:03.0): BAR 0 = I/O at BAR, command = I/O space + bus master
    mov dx, CFG_ADDR
    mov eax, 0x80001810
    out dx, eax
    mov dx, CFG_DATA
    mov eax, BAR
    out dx, eax
    mov dx, CFG_ADDR
    mov eax, 0x80001804
    out dx, eax
    mov dx, CFG_DATA
    mov ax, 0x0005
    out dx, ax

    ; virtio 0.9.5 legacy registers: status reset, ACKNOWLEDGE, DRIVER, no features, queue 0
    mov dx, BAR + 18
    mov al, 0
    out dx, al
    mov al, 1
    out dx, al
    mov al, 3
    out dx, al
    mov dx, BAR + 4
    xor eax, eax
    out dx, eax
    mov dx, BAR + 14
    xor ax, ax
    out dx, ax
    mov dx, BAR + 12
    in ax, dx
    mov bp, ax                      ; BP = queue size N

    ; clear 64 KiB of queue memory
    mov ax, QSEG
    mov es, ax
    xor di, di
    xor ax, ax
    mov cx, 0x8000
    cld
    rep stosw

    ; descriptors (16 bytes: addr64, len32, flags16, next16): header, data (device writes), status (device writes)
    mov dword [es:0], 0x20000
    mov dword [es:8], 16
    mov word [es:12], 1             ; NEXT
    mov word [es:14], 1
    mov dword [es:16], 0x20010
    mov dword [es:24], 512
    mov word [es:28], 3             ; NEXT | WRITE
    mov word [es:30], 2
    mov dword [es:32], 0x20210
    mov dword [es:40], 1
    mov word [es:44], 2             ; WRITE

    ; the request: type 0 (IN), reserved, sector; status byte preset to FFh
    mov ax, RSEG
    mov fs, ax
    mov dword [fs:0], 0
    mov dword [fs:4], 0
    mov dword [fs:8], SECTOR
    mov dword [fs:12], 0
    mov byte [fs:0x210], 0xFF

    ; avail ring at 16N: flags 0 (interrupts wanted), ring[0] = descriptor 0; idx stays 0 for now
    mov bx, bp
    shl bx, 4
    mov word [es:bx], 0
    mov word [es:bx + 4], 0

    mov dx, BAR + 8                 ; queue PFN
    mov eax, QSEG >> 8
    out dx, eax
    mov dx, BAR + 18
    mov al, 7                       ; ACKNOWLEDGE | DRIVER | DRIVER_OK
    out dx, al

    mov word [es:bx + 2], 1         ; avail idx = 1: the request is offered only now, just before the notify
    mov dx, MARK
    mov al, 1
    out dx, al
    mov dx, BAR + 16                ; notify queue 0
    xor ax, ax
    out dx, ax

    xor ecx, ecx
    sti
wait_irq:
    inc ecx
    cmp byte [RES_DONE], 0
    je wait_irq
    cli
    mov [RES_LOOPS], ecx

    ; used ring at align(16N + 6 + 2N, 4096): its idx
    mov ax, bp
    shl ax, 4
    mov bx, bp
    shl bx, 1
    add ax, bx
    add ax, 6 + 4095
    and ax, 0xF000
    mov bx, ax
    mov ax, [es:bx + 2]
    mov [RES_USED], ax

    mov dx, 0x501
    mov al, 0
    out dx, al
    hlt

irq11:
    push ax
    push dx
    mov dx, MARK
    mov al, 2
    out dx, al
    mov dx, BAR + 19                ; ISR: reading it acknowledges and lowers the line
    in al, dx
    mov [RES_ISR], al
    mov byte [RES_DONE], 1
    mov al, 0x20                    ; non-specific EOI, slave then master
    out 0xA0, al
    out 0x20, al
    pop dx
    pop ax
    iret

    times 0xFFF0 - ($ - $$) db 0
reset:                              ; F000:FFF0, the reset vector
    jmp 0xF000:start
    times 0x10000 - ($ - $$) db 0
