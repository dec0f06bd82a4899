; int10.asm - int 10h video services on a serial console (Ralf Brown's interrupt list, INT 10h).
; There is no display: teletype output (AH=0Eh, AH=13h) goes to COM1, and the queries boot loaders and
; the Linux real-mode setup make are answered from a plausible 80x25 colour text state (mode 3) kept
; in the BDA. VESA BIOS Extensions are absent: AX=4Fxxh returns AL=00h (not supported), AH=01h.

int10_handler:
        ENTER_FRAME
        cld
        push BDA_SEG
        pop ds
        mov al, [bp + R_AH]
        mov si, int10_functions
.find:  cmp byte [cs:si], 0xFF
        je int10_exit                   ; anything else: no effect
        cmp [cs:si], al
        je .found
        add si, 3
        jmp .find
.found: jmp [cs:si + 1]

int10_functions:
        db 0x00
        dw int10_set_mode
        db 0x01
        dw int10_set_cursor_shape
        db 0x02
        dw int10_set_cursor
        db 0x03
        dw int10_get_cursor
        db 0x05
        dw int10_set_page
        db 0x08
        dw int10_read_char
        db 0x0E
        dw int10_teletype
        db 0x0F
        dw int10_get_mode
        db 0x11
        dw int10_font
        db 0x12
        dw int10_alt_select
        db 0x13
        dw int10_write_string
        db 0x1A
        dw int10_display_combination
        db 0x4F
        dw int10_vesa
        db 0xFF

int10_exit:
        LEAVE_FRAME

; AH=00h: AL = mode (bit 7: keep the screen). Text modes are remembered; the columns follow the mode.
int10_set_mode:
        mov al, [bp + R_AL]
        and al, 0x7F
        mov [BDA_VIDEO_MODE], al
        mov word [BDA_VIDEO_COLS], 80
        cmp al, 1
        ja .cursor
        mov word [BDA_VIDEO_COLS], 40   ; modes 0 and 1 are 40x25
.cursor:
        mov word [BDA_CURSOR_POS], 0
        mov byte [BDA_VIDEO_PAGE], 0
        jmp int10_exit

; AH=01h: CH/CL = cursor start/end scan lines.
int10_set_cursor_shape:
        mov ax, [bp + R_CX]
        mov [BDA_CURSOR_SHAPE], ax
        jmp int10_exit

; AH=02h: BH = page, DH = row, DL = column.
int10_set_cursor:
        call cursor_slot
        mov ax, [bp + R_DX]
        mov [bx], ax
        jmp int10_exit

; AH=03h: BH = page -> DH = row, DL = column, CH/CL = cursor shape, AX = 0.
int10_get_cursor:
        call cursor_slot
        mov ax, [bx]
        mov [bp + R_DX], ax
        mov ax, [BDA_CURSOR_SHAPE]
        mov [bp + R_CX], ax
        mov word [bp + R_AX], 0
        jmp int10_exit

; cursor_slot: BX = BDA offset of the cursor word of page BH (pages 0-7).
cursor_slot:
        movzx bx, byte [bp + R_BH]
        and bl, 7
        shl bx, 1
        add bx, BDA_CURSOR_POS
        ret

; AH=05h: AL = active page.
int10_set_page:
        mov al, [bp + R_AL]
        and al, 7
        mov [BDA_VIDEO_PAGE], al
        jmp int10_exit

; AH=08h: character and attribute at the cursor: a blank in light grey on black.
int10_read_char:
        mov word [bp + R_AX], 0x0720
        jmp int10_exit

; AH=0Eh: AL = character, written to the console; the BDA cursor follows it.
int10_teletype:
        mov al, [bp + R_AL]
        call teletype
        jmp int10_exit

; AH=0Fh: AL = mode, AH = columns, BH = active page.
int10_get_mode:
        mov al, [BDA_VIDEO_MODE]
        mov ah, [BDA_VIDEO_COLS]
        mov [bp + R_AX], ax
        mov al, [BDA_VIDEO_PAGE]
        mov [bp + R_BH], al
        jmp int10_exit

; AH=11h, AL=30h: font information: CX = character height, DL = rows - 1, ES:BP = no font (0:0).
int10_font:
        cmp byte [bp + R_AL], 0x30
        jne int10_exit
        mov ax, [BDA_VIDEO_CHARH]
        mov [bp + R_CX], ax
        mov al, [BDA_VIDEO_ROWS]
        mov [bp + R_DL], al
        mov word [bp + R_ES], 0
        mov word [bp + R_EBP], 0
        jmp int10_exit

; AH=12h, BL=10h: EGA information: BH = 0 (colour), BL = 3 (256 KiB), CH = 0, CL = switches.
; (A BIOS without EGA leaves BL = 10h; the Linux setup takes that as CGA.)
int10_alt_select:
        cmp byte [bp + R_BL], 0x10
        jne int10_exit
        mov word [bp + R_BX], 0x0003
        mov word [bp + R_CX], 0x0009
        jmp int10_exit

; AH=13h: write string ES:BP, CX characters, at DH/DL; AL bit 1 = characters and attributes alternate.
int10_write_string:
        mov ax, [bp + R_DX]
        mov [BDA_CURSOR_POS], ax
        mov cx, [bp + R_CX]
        jcxz .done
        mov es, [bp + R_ES]
        mov si, [bp + R_EBP]
.next:  mov al, [es:si]
        inc si
        test byte [bp + R_AL], 0x02
        jz .out
        inc si                          ; skip the attribute byte
.out:   call teletype
        loop .next
.done:  jmp int10_exit

; AX=1A00h: display combination: AL = 1Ah (supported), BL = 08h (VGA, colour), BH = 00h (none).
int10_display_combination:
        cmp byte [bp + R_AL], 0x00
        jne int10_exit
        mov byte [bp + R_AL], 0x1A
        mov word [bp + R_BX], 0x0008
        jmp int10_exit

; AX=4Fxxh: no VBE. AL != 4Fh tells the caller the function is not supported.
int10_vesa:
        mov word [bp + R_AX], 0x0100
        jmp int10_exit

; teletype: DS = BDA, AL = character. Sends it to COM1 and moves the page 0 cursor like a screen
; would: CR to column 0, LF a row down, backspace a column left, and a wrap after the last column.
teletype:
        push ax
        push bx
        call serial_putc
        mov bx, [BDA_CURSOR_POS]        ; BL = column, BH = row
        cmp al, 13
        je .cr
        cmp al, 10
        je .lf
        cmp al, 8
        je .bs
        cmp al, 7
        je .store                       ; bell: no cursor movement
        inc bl
        cmp bl, [BDA_VIDEO_COLS]
        jb .store
.cr_lf: xor bl, bl
.lf:    cmp bh, [BDA_VIDEO_ROWS]
        jae .store                      ; on the last row the screen would scroll
        inc bh
        jmp .store
.cr:    xor bl, bl
        jmp .store
.bs:    or bl, bl
        jz .store
        dec bl
.store: mov [BDA_CURSOR_POS], bx
        pop bx
        pop ax
        ret
