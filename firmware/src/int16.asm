; int16.asm - int 16h keyboard services, fed by the serial console (Ralf Brown's interrupt list,
; INT 16h). Bytes from COM1 go into the BDA keyboard buffer (0x41E, head 0x41A, tail 0x41C) as
; scan code / ASCII pairs, so AH=01h can look at a key without taking it. DEL (7Fh, what terminals
; send for backspace) becomes backspace.

int16_handler:
        ENTER_FRAME
        cld
        push BDA_SEG
        pop ds
        mov ah, [bp + R_AH]
        cmp ah, 0x10                    ; 10h-12h are the enhanced-keyboard forms of 00h-02h
        jb .fn
        cmp ah, 0x12
        ja .fn
        sub ah, 0x10
.fn:    cmp ah, 0x00
        je int16_read
        cmp ah, 0x01
        je int16_peek
        cmp ah, 0x02
        je int16_shift
        cmp ah, 0x05
        je int16_store
int16_exit:
        LEAVE_FRAME

; AH=00h: wait for a key; AX = scan code / ASCII. Sleeps (HLT) between polls: the 18.2 Hz timer
; interrupt wakes it.
int16_read:
        sti
.wait:  call kbd_fill
        call kbd_take
        jnz .got
        hlt
        jmp .wait
.got:   mov [bp + R_AX], ax
        jmp int16_exit

; AH=01h: ZF=1 if no key is waiting; else ZF=0 and AX = the next key, left in the buffer.
int16_peek:
        call kbd_fill
        mov bx, [BDA_KBD_HEAD]
        cmp bx, [BDA_KBD_TAIL]
        je .empty
        mov ax, [bx]
        mov [bp + R_AX], ax
        and word [bp + R_FLAGS], ~FLAG_ZF
        jmp int16_exit
.empty: or word [bp + R_FLAGS], FLAG_ZF
        jmp int16_exit

; AH=02h: AL = shift flags (BDA 0x417); AH=12h also AH = extended flags (0x418).
int16_shift:
        mov al, [BDA_KBD_FLAGS]
        mov [bp + R_AL], al
        cmp byte [bp + R_AH], 0x12
        jne int16_exit
        mov al, [BDA_KBD_FLAGS2]
        mov [bp + R_AH], al
        jmp int16_exit

; AH=05h: CX = key to put in the buffer; AL = 0 stored, 1 buffer full.
int16_store:
        mov ax, [bp + R_CX]
        call kbd_put
        mov byte [bp + R_AL], 0
        jnc int16_exit
        mov byte [bp + R_AL], 1
        jmp int16_exit

; kbd_fill: DS = BDA. Moves every byte the UART holds into the keyboard buffer.
kbd_fill:
        push ax
        push bx
.next:  call serial_poll
        jz .done
        cmp al, 0x7F
        jne .map
        mov al, 0x08
.map:   xor ah, ah
        cmp al, 0x80
        jae .put                        ; not ASCII: no scan code
        movzx bx, al
        mov ah, [cs:ascii_scancodes + bx]
.put:   call kbd_put
        jmp .next
.done:  pop bx
        pop ax
        ret

; kbd_put: DS = BDA, AX = key. CF=1 if the buffer is full (the key is dropped).
kbd_put:
        push bx
        push si
        mov bx, [BDA_KBD_TAIL]
        lea si, [bx + 2]
        cmp si, [BDA_KBD_END]
        jb .wrap
        mov si, [BDA_KBD_START]
.wrap:  cmp si, [BDA_KBD_HEAD]
        je .full
        mov [bx], ax
        mov [BDA_KBD_TAIL], si
        clc
        jmp .out
.full:  stc
.out:   pop si
        pop bx
        ret

; kbd_take: DS = BDA. ZF=0 and AX = key if there was one; ZF=1 if the buffer is empty.
kbd_take:
        push bx
        mov bx, [BDA_KBD_HEAD]
        cmp bx, [BDA_KBD_TAIL]
        je .out
        mov ax, [bx]
        add bx, 2
        cmp bx, [BDA_KBD_END]
        jb .store
        mov bx, [BDA_KBD_START]
.store: mov [BDA_KBD_HEAD], bx
        or bx, bx                       ; BX is nonzero: ZF=0
.out:   pop bx
        ret

; Scan codes (IBM PC/AT set 1) of a US keyboard for ASCII 00h-7Fh; control characters map to the key
; that types them with Ctrl (Enter, Tab, Backspace and Esc to their own keys).
ascii_scancodes:
        ;    NUL   ^A    ^B    ^C    ^D    ^E    ^F    ^G    BS    TAB   LF    ^K    ^L    CR    ^N    ^O
        db 0x03, 0x1E, 0x30, 0x2E, 0x20, 0x12, 0x21, 0x22, 0x0E, 0x0F, 0x24, 0x25, 0x26, 0x1C, 0x31, 0x18
        ;    ^P    ^Q    ^R    ^S    ^T    ^U    ^V    ^W    ^X    ^Y    ^Z    ESC   ^\    ^]    ^^    ^_
        db 0x19, 0x10, 0x13, 0x1F, 0x14, 0x16, 0x2F, 0x11, 0x2D, 0x15, 0x2C, 0x01, 0x2B, 0x1B, 0x07, 0x0C
        ;    SP    !     "     #     $     %     &     '     (     )     *     +     ,     -     .     /
        db 0x39, 0x02, 0x28, 0x04, 0x05, 0x06, 0x08, 0x28, 0x0A, 0x0B, 0x09, 0x0D, 0x33, 0x0C, 0x34, 0x35
        ;    0     1     2     3     4     5     6     7     8     9     :     ;     <     =     >     ?
        db 0x0B, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x27, 0x27, 0x33, 0x0D, 0x34, 0x35
        ;    @     A     B     C     D     E     F     G     H     I     J     K     L     M     N     O
        db 0x03, 0x1E, 0x30, 0x2E, 0x20, 0x12, 0x21, 0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18
        ;    P     Q     R     S     T     U     V     W     X     Y     Z     [     \     ]     ^     _
        db 0x19, 0x10, 0x13, 0x1F, 0x14, 0x16, 0x2F, 0x11, 0x2D, 0x15, 0x2C, 0x1A, 0x2B, 0x1B, 0x07, 0x0C
        ;    `     a     b     c     d     e     f     g     h     i     j     k     l     m     n     o
        db 0x29, 0x1E, 0x30, 0x2E, 0x20, 0x12, 0x21, 0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18
        ;    p     q     r     s     t     u     v     w     x     y     z     {     |     }     ~     DEL
        db 0x19, 0x10, 0x13, 0x1F, 0x14, 0x16, 0x2F, 0x11, 0x2D, 0x15, 0x2C, 0x1A, 0x2B, 0x1B, 0x29, 0x0E
