; ivt.asm - the real-mode interrupt vector table: which handler each vector gets, the timer (IRQ 0)
; handler, and the defaults for unused hardware IRQs and CPU exceptions.
; PIC vectors as the IBM PC/AT set them: master IRQ 0-7 -> int 08h-0Fh, slave IRQ 8-15 -> int 70h-77h.

; ivt_init: every vector -> dummy_iret, then the services, IRQs and exceptions this BIOS handles.
ivt_init:
        push ax
        push cx
        push di
        push si
        push es
        xor ax, ax
        mov es, ax
        xor di, di
        mov cx, 256
.fill:  mov word [es:di], dummy_iret
        mov word [es:di + 2], BIOS_SEG
        add di, 4
        loop .fill
        mov si, ivt_table
.set:   cs lodsw                        ; AX = vector number, 0xFFFF ends the table
        cmp ax, 0xFFFF
        je .data
        mov di, ax
        shl di, 2
        cs lodsw
        mov [es:di], ax
        mov word [es:di + 2], BIOS_SEG
        jmp .set
        ; vectors that are data pointers (video parameters 1Dh, diskette parameters 1Eh, graphics
        ; font 1Fh, hard disk parameters 41h/46h) point nowhere: this PC has none of those.
.data:  xor ax, ax
        mov [es:0x1D * 4], ax
        mov [es:0x1D * 4 + 2], ax
        mov [es:0x1E * 4], ax
        mov [es:0x1E * 4 + 2], ax
        mov [es:0x1F * 4], ax
        mov [es:0x1F * 4 + 2], ax
        mov [es:0x41 * 4], ax
        mov [es:0x41 * 4 + 2], ax
        mov [es:0x46 * 4], ax
        mov [es:0x46 * 4 + 2], ax
        pop es
        pop si
        pop di
        pop cx
        pop ax
        ret

ivt_table:
        dw 0x00, fault_00               ; divide error
        dw 0x06, fault_06               ; invalid opcode
        dw 0x07, fault_07               ; device not available
        dw 0x08, irq0_timer             ; IRQ 0: PIT channel 0
        dw 0x09, irq1_default
        dw 0x0A, irq2_default
        dw 0x0B, irq3_default
        dw 0x0C, irq4_default
        dw 0x0D, irq5_default
        dw 0x0E, irq6_default
        dw 0x0F, irq7_default
        dw 0x10, int10_handler          ; video (teletype to the serial console)
        dw 0x11, int11_handler          ; equipment list
        dw 0x12, int12_handler          ; conventional memory size
        dw 0x13, int13_handler          ; disk (virtio-blk)
        dw 0x15, int15_handler          ; system services (E820, A20, ...)
        dw 0x16, int16_handler          ; keyboard (from the serial console)
        dw 0x18, int18_handler          ; boot failure
        dw 0x19, int19_handler          ; bootstrap loader
        dw 0x1A, int1a_handler          ; time of day, PCI BIOS
        dw 0x70, irq_slave_default
        dw 0x71, irq_slave_default
        dw 0x72, irq_slave_default
        dw 0x73, irq_slave_default
        dw 0x74, irq_slave_default
        dw 0x75, irq_slave_default
        dw 0x76, irq_slave_default
        dw 0x77, irq_slave_default
        dw 0xFFFF

dummy_iret:
        iret

; IRQ 0: count ticks in the BDA (0x46C, wrapping at midnight with the flag at 0x470), call the user
; tick hook int 1Ch, then end of interrupt (8259A OCW2 non-specific EOI).
irq0_timer:
        push ds
        push eax
        mov ax, BDA_SEG
        mov ds, ax
        mov eax, [BDA_TICKS]
        inc eax
        cmp eax, TICKS_PER_DAY
        jb .store
        xor eax, eax
        mov byte [BDA_MIDNIGHT], 1
.store: mov [BDA_TICKS], eax
        int 0x1C
        mov al, 0x20
        out PIC1_CMD, al
        pop eax
        pop ds
        iret

; Master IRQs 1-7 nobody handles. Vectors 09h-0Fh are also CPU exception numbers (#GP is 0Dh), so
; the handler asks the PIC whether the IRQ is really in service (OCW3: read ISR) before acknowledging
; it; otherwise it was a CPU fault, and returning would re-run the faulting instruction forever.
%macro IRQ_MASTER_STUB 1
irq%1_default:
        push ax
        mov al, %1
        jmp irq_master_common
%endmacro
IRQ_MASTER_STUB 1
IRQ_MASTER_STUB 2
IRQ_MASTER_STUB 3
IRQ_MASTER_STUB 4
IRQ_MASTER_STUB 5
IRQ_MASTER_STUB 6
IRQ_MASTER_STUB 7

irq_master_common:
        push cx
        mov cl, al
        mov al, 0x0B                    ; OCW3: next read of port 0x20 returns the ISR
        out PIC1_CMD, al
        in al, PIC1_CMD
        mov ah, 1
        shl ah, cl
        test al, ah
        jz .not_irq
        mov al, 0x20                    ; non-specific EOI
        out PIC1_CMD, al
        pop cx
        pop ax
        iret
.not_irq:
        cmp cl, 7                       ; a spurious IRQ 7 is not in service either: ignore it
        je .spurious
        mov al, cl
        add al, 8                       ; back to the vector number
        pop cx
        jmp fault_common
.spurious:
        pop cx
        pop ax
        iret

; Slave IRQs 8-15 (vectors 70h-77h): acknowledge both controllers.
irq_slave_default:
        push ax
        mov al, 0x20
        out PIC2_CMD, al
        out PIC1_CMD, al
        pop ax
        iret

; CPU faults in real mode: report where and end the run (the faulting instruction would only fault
; again after an iret).
fault_00:
        push ax
        mov al, 0x00
        jmp fault_common
fault_06:
        push ax
        mov al, 0x06
        jmp fault_common
fault_07:
        push ax
        mov al, 0x07
        ; fall through

; fault_common: AL = vector; the stack holds the caller's AX, then IP, CS, FLAGS.
fault_common:
        mov bp, sp
        PRINT 13, 10, "emu BIOS: unexpected CPU exception "
        call print_hex8
        PRINT "h at "
        mov ax, [ss:bp + 4]
        call print_hex16
        mov al, ':'
        call serial_putc
        mov ax, [ss:bp + 2]
        call print_hex16
        call print_crlf
        mov al, EXIT_CPU_FAULT
        jmp end_run
