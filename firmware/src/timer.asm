; timer.asm - the 8254 PIT: channel 0 as the 18.2 Hz system tick (its IRQ 0 handler is in ivt.asm),
; and a clock for waits that works whether or not interrupts are enabled: the BIOS reads channel 0's
; count back with the counter-latch command (8254 datasheet, "Counter Latch Command") and adds up how
; far it has counted down.

; pit_init: channel 0, mode 3 (square wave), count 65536: IRQ 0 at 1193182 / 65536 = 18.2 Hz.
pit_init:
        mov al, 0x36                    ; channel 0, lobyte/hibyte, mode 3, binary
        out PIT_MODE, al
        xor al, al
        out PIT_CH0, al
        out PIT_CH0, al
        in al, PIC1_DATA                ; unmask IRQ 0: the tick handler is this BIOS's own
        and al, 0xFE
        out PIC1_DATA, al
        ret

; pit_read: AX = channel 0's current count.
pit_read:
        mov al, 0x00                    ; counter latch, channel 0
        out PIT_MODE, al
        in al, PIT_CH0
        mov ah, al
        in al, PIT_CH0
        xchg al, ah
        ret

; pit_clock_start: DS = EBDA. Starts counting PIT input clocks (1.193182 MHz) from now.
pit_clock_start:
        push ax
        call pit_read
        mov [EBDA_PIT_LAST], ax
        mov dword [EBDA_PIT_CLOCKS], 0
        pop ax
        ret

; pit_clock_read: DS = EBDA -> EAX = PIT input clocks since pit_clock_start. In mode 3 the count
; drops by 2 per input clock and reloads (65536) twice a period; a reload shows as a count that went
; up. Polled less often than every 27 ms, it undercounts, so waits only get longer.
pit_clock_read:
        push ecx
        call pit_read
        movzx ecx, word [EBDA_PIT_LAST]
        mov [EBDA_PIT_LAST], ax
        movzx eax, ax
        sub ecx, eax                    ; counted down since the last read
        jae .add
        add ecx, 0x10000                ; reloaded in between
.add:   shr ecx, 1                      ; two counts per input clock
        add [EBDA_PIT_CLOCKS], ecx
        mov eax, [EBDA_PIT_CLOCKS]
        pop ecx
        ret
