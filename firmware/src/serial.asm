; serial.asm - the console: COM1, a 16550 UART at 0x3F8 (National Semiconductor PC16550D datasheet
; register map). All BIOS output (int 10h teletype and the BIOS's own messages) goes here; int 16h
; reads keys from here. Polled: no UART interrupt is used.

; serial_init: 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit, FIFOs on, DTR and RTS.
serial_init:
        push ax
        push dx
        mov dx, COM1 + UART_IER
        xor al, al
        out dx, al                      ; no UART interrupts
        mov dx, COM1 + UART_LCR
        mov al, 0x80                    ; DLAB=1: ports 0/1 become the divisor latch
        out dx, al
        mov dx, COM1 + UART_DLL
        mov al, 1                       ; 1.8432 MHz / 16 / 1 = 115200 baud
        out dx, al
        mov dx, COM1 + UART_DLM
        xor al, al
        out dx, al
        mov dx, COM1 + UART_LCR
        mov al, 0x03                    ; DLAB=0, 8N1
        out dx, al
        mov dx, COM1 + UART_FCR
        mov al, 0x07                    ; enable and clear both FIFOs
        out dx, al
        mov dx, COM1 + UART_MCR
        mov al, 0x03                    ; DTR | RTS (OUT2 off: the UART's IRQ stays off the bus)
        out dx, al
        pop dx
        pop ax
        ret

; serial_putc: send AL. Waits for THRE, but a bounded number of times, so that a missing UART
; (LSR reading 0) cannot hang the machine.
serial_putc:
        push cx
        push dx
        push ax
        mov dx, COM1 + UART_LSR
        mov cx, 0xFFFF
.wait:  in al, dx
        test al, LSR_THRE
        jnz .ready
        loop .wait
.ready: pop ax
        mov dx, COM1 + UART_THR
        out dx, al
        pop dx
        pop cx
        ret

; serial_poll: if the UART holds a received byte, return it in AL with ZF=0; else ZF=1.
serial_poll:
        push dx
        mov dx, COM1 + UART_LSR
        in al, dx
        cmp al, 0xFF                    ; floating bus: no UART at all
        je .none
        test al, LSR_DR
        jz .none
        mov dx, COM1 + UART_RBR
        in al, dx
        or dx, dx                       ; DX is nonzero: ZF=0
        pop dx
        ret
.none:  cmp al, al                      ; ZF=1
        pop dx
        ret

; print_str: print the zero-terminated string at CS:SI.
print_str:
        push ax
        push si
.next:  cs lodsb
        or al, al
        jz .done
        call serial_putc
        jmp .next
.done:  pop si
        pop ax
        ret

; PRINT "text": print a literal kept in the ROM next to the code.
%macro PRINT 1+
        jmp %%over
%%s:    db %1, 0
%%over: push si
        mov si, %%s
        call print_str
        pop si
%endmacro

print_crlf:
        push ax
        mov al, 13
        call serial_putc
        mov al, 10
        call serial_putc
        pop ax
        ret

; print_hex_nibble / print_hex8 (AL) / print_hex16 (AX) / print_hex32 (EAX): upper-case hex digits.
print_hex_nibble:
        push ax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '9' - 1
.out:   call serial_putc
        pop ax
        ret

print_hex8:
        push ax
        push ax
        shr al, 4
        call print_hex_nibble
        pop ax
        call print_hex_nibble
        pop ax
        ret

print_hex16:
        xchg al, ah
        call print_hex8
        xchg al, ah
        call print_hex8
        ret

print_hex32:
        ror eax, 16
        call print_hex16
        ror eax, 16
        call print_hex16
        ret

; print_dec32: EAX as an unsigned decimal number.
print_dec32:
        pushad
        mov ebx, 10
        xor cx, cx
.div:   xor edx, edx
        div ebx
        push dx                         ; digits come out least significant first
        inc cx
        or eax, eax
        jnz .div
.out:   pop ax
        add al, '0'
        call serial_putc
        loop .out
        popad
        ret
