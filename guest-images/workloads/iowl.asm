; iowl: the guest's I/O workload helper, a static i386 Linux program without libc (nasm -f elf32, ld -m elf_i386).
;   iowl now                              prints CLOCK_MONOTONIC as SECONDS.NANOSECONDS
;   iowl randwrite DEV COUNT SPAN_MIB SEED   COUNT writes of 4 KiB with O_DIRECT at random 4 KiB-aligned offsets
;                                         below SPAN_MIB MiB of DEV (xorshift32 from SEED, so runs repeat), then fsync
;   iowl fsync DIR COUNT                  COUNT new files DIR/f00000.. of 4 KiB, each written and fsync'd, then closed
; Exit status 0, or 1 with a one-line message on stderr. System calls through int 0x80 (i386 numbers).
bits 32

%define SYS_exit 1
%define SYS_write 4
%define SYS_open 5
%define SYS_close 6
%define SYS_fsync 118
%define SYS_pwrite64 181
%define SYS_clock_gettime 265
%define O_WRONLY 1
%define O_RDWR 2
%define O_CREAT 0x40
%define O_TRUNC 0x200
%define O_DIRECT 0x4000
%define O_LARGEFILE 0x8000
%define CLOCK_MONOTONIC 1
%define BLOCK 4096

section .data
usage_msg:  db "usage: iowl now | randwrite DEV COUNT SPAN_MIB SEED | fsync DIR COUNT", 10
usage_len equ $ - usage_msg
num_msg:    db "iowl: a number argument is not a decimal number", 10
num_len equ $ - num_msg
open_msg:   db "iowl: open failed", 10
open_len equ $ - open_msg
write_msg:  db "iowl: write failed", 10
write_len equ $ - write_msg
sync_msg:   db "iowl: fsync failed", 10
sync_len equ $ - sync_msg
span_msg:   db "iowl: SPAN_MIB must be at least 1 and at most 16383", 10
span_len equ $ - span_msg
s_now:      db "now", 0
s_rand:     db "randwrite", 0
s_fsync:    db "fsync", 0

section .bss
alignb 4096
buffer:     resb BLOCK
path:       resb 4096
digits:     resb 32
timespec:   resd 2
argc_:      resd 1
argv_:      resd 1
state:      resd 1
count:      resd 1
blocks:     resd 1
fd:         resd 1

section .text
global _start
_start:
    mov eax, [esp]
    mov [argc_], eax
    lea eax, [esp + 4]
    mov [argv_], eax
    cmp dword [argc_], 2
    jb usage
    mov esi, [eax + 4]                  ; argv[1]
    mov edi, s_now
    call streq
    je cmd_now
    mov edi, s_rand
    call streq
    je cmd_randwrite
    mov edi, s_fsync
    call streq
    je cmd_fsync
usage:
    mov ecx, usage_msg
    mov edx, usage_len
fail:                                   ; ecx, edx: the message
    mov eax, SYS_write
    mov ebx, 2
    int 0x80
    mov eax, SYS_exit
    mov ebx, 1
    int 0x80

; ---- now: "SECONDS.NNNNNNNNN\n" ----------------------------------------------------------------------
cmd_now:
    mov eax, SYS_clock_gettime
    mov ebx, CLOCK_MONOTONIC
    mov ecx, timespec
    int 0x80
    mov eax, [timespec]
    mov edi, digits
    call utoa                           ; edi -> end
    mov byte [edi], '.'
    inc edi
    mov eax, [timespec + 4]
    mov ecx, 9
    call utoa_width
    mov byte [edi], 10
    inc edi
    mov edx, edi
    sub edx, digits
    mov eax, SYS_write
    mov ebx, 1
    mov ecx, digits
    int 0x80
    jmp exit_ok

; ---- randwrite DEV COUNT SPAN_MIB SEED ------------------------------------------------------------------
cmd_randwrite:
    cmp dword [argc_], 6
    jne usage
    mov eax, [argv_]
    mov esi, [eax + 12]
    call atou
    mov [count], eax
    mov eax, [argv_]
    mov esi, [eax + 16]
    call atou
    test eax, eax
    jz bad_span
    cmp eax, 16383
    ja bad_span
    shl eax, 8                          ; MiB -> 4 KiB blocks
    mov [blocks], eax
    mov eax, [argv_]
    mov esi, [eax + 20]
    call atou
    test eax, eax
    jnz .seeded
    mov eax, 2463534242                 ; xorshift32 must not start at 0
.seeded:
    mov [state], eax
    mov eax, [argv_]
    mov ebx, [eax + 8]
    mov eax, SYS_open
    mov ecx, O_RDWR | O_DIRECT | O_LARGEFILE
    xor edx, edx
    int 0x80
    test eax, eax
    js open_failed
    mov [fd], eax
    xor ebp, ebp                        ; ebp: writes done
.loop:
    cmp ebp, [count]
    jae .done
    ; fill the block with its sequence number, so no two writes carry the same bytes
    mov eax, ebp
    mov edi, buffer
    mov ecx, BLOCK / 4
    rep stosd
    ; xorshift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5
    mov eax, [state]
    mov edx, eax
    shl edx, 13
    xor eax, edx
    mov edx, eax
    shr edx, 17
    xor eax, edx
    mov edx, eax
    shl edx, 5
    xor eax, edx
    mov [state], eax
    xor edx, edx
    div dword [blocks]                  ; edx = block index
    mov eax, edx
    xor edi, edi
    shld edi, eax, 12                   ; offset = index * 4096 as edi:esi
    shl eax, 12
    mov esi, eax
    mov eax, SYS_pwrite64
    mov ebx, [fd]
    mov ecx, buffer
    mov edx, BLOCK
    int 0x80
    cmp eax, BLOCK
    jne write_failed
    inc ebp
    jmp .loop
.done:
    mov eax, SYS_fsync
    mov ebx, [fd]
    int 0x80
    test eax, eax
    jnz sync_failed
    mov eax, SYS_close
    mov ebx, [fd]
    int 0x80
    jmp exit_ok

; ---- fsync DIR COUNT ----------------------------------------------------------------------------------
cmd_fsync:
    cmp dword [argc_], 4
    jne usage
    mov eax, [argv_]
    mov esi, [eax + 12]
    call atou
    mov [count], eax
    xor ebp, ebp
.loop:
    cmp ebp, [count]
    jae exit_ok
    ; path = DIR "/f" NNNNN
    mov eax, [argv_]
    mov esi, [eax + 8]
    mov edi, path
.copy:
    lodsb
    test al, al
    jz .copied
    stosb
    cmp edi, path + 4000
    jb .copy
.copied:
    mov byte [edi], '/'
    mov byte [edi + 1], 'f'
    add edi, 2
    mov eax, ebp
    mov ecx, 5
    call utoa_width
    mov byte [edi], 0
    mov eax, ebp
    mov edi, buffer
    mov ecx, BLOCK / 4
    rep stosd
    mov eax, SYS_open
    mov ebx, path
    mov ecx, O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE
    mov edx, 0o644
    int 0x80
    test eax, eax
    js open_failed
    mov [fd], eax
    mov eax, SYS_write
    mov ebx, [fd]
    mov ecx, buffer
    mov edx, BLOCK
    int 0x80
    cmp eax, BLOCK
    jne write_failed
    mov eax, SYS_fsync
    mov ebx, [fd]
    int 0x80
    test eax, eax
    jnz sync_failed
    mov eax, SYS_close
    mov ebx, [fd]
    int 0x80
    inc ebp
    jmp .loop

exit_ok:
    mov eax, SYS_exit
    xor ebx, ebx
    int 0x80

bad_span:
    mov ecx, span_msg
    mov edx, span_len
    jmp fail
open_failed:
    mov ecx, open_msg
    mov edx, open_len
    jmp fail
write_failed:
    mov ecx, write_msg
    mov edx, write_len
    jmp fail
sync_failed:
    mov ecx, sync_msg
    mov edx, sync_len
    jmp fail

; ---- helpers -------------------------------------------------------------------------------------------
; streq: esi, edi NUL-terminated; ZF set when equal. Keeps esi.
streq:
    push esi
.next:
    mov al, [esi]
    cmp al, [edi]
    jne .out
    inc esi
    inc edi
    test al, al
    jnz .next
.out:
    pop esi
    ret

; atou: esi -> decimal string; eax = value (exits with a message if it is not all digits or overflows 32 bits)
atou:
    xor eax, eax
    xor ecx, ecx
    cmp byte [esi], 0
    je .bad
.digit:
    mov cl, [esi]
    test cl, cl
    jz .end
    sub cl, '0'
    cmp cl, 9
    ja .bad
    mov edx, 10
    mul edx
    jo .bad
    add eax, ecx
    jc .bad
    inc esi
    jmp .digit
.end:
    ret
.bad:
    mov ecx, num_msg
    mov edx, num_len
    jmp fail

; utoa: eax -> decimal at edi; edi -> past the last digit
utoa:
    xor ecx, ecx
; utoa_width: as utoa, at least ecx digits (zero-padded)
utoa_width:
    push ebx
    mov ebx, 10
    xor esi, esi                        ; digits pushed
.div:
    xor edx, edx
    div ebx
    push edx
    inc esi
    test eax, eax
    jnz .div
.pad:
    cmp esi, ecx
    jae .emit
    push dword 0
    inc esi
    jmp .pad
.emit:
    pop eax
    add al, '0'
    stosb
    dec esi
    jnz .emit
    pop ebx
    ret
