; Paging (SDM Vol. 3, chapter 4): 4 KiB and 4 MiB (PSE) pages, a page fault resolved by its handler and the
; instruction restarted, accessed and dirty bits in PTEs and PDEs, CR0.WP, INVLPG, CR3 reloads, not-present
; page tables, and turning paging off again.
%include "common.inc"

PD      equ 0x100000
PT0     equ 0x101000
PTE     equ PT0                 ; PTE of linear address x: [PTE + (x >> 12) * 4]

gate_target:
    retf

pf_resolve:                     ; maps 0x300000 to 0x500000 and restarts the faulting instruction
    push eax
    mov eax, cr2
    mov [var + 0], eax
    mov eax, [esp + 4]
    mov [var + 4], eax
    inc dword [var + 8]
    mov dword [PTE + (0x300000 >> 12) * 4], 0x500000 | 7
    mov eax, cr2
    invlpg [eax]
    pop eax
    add esp, 4
    iretd

test_main:
    ; markers in physical memory
    mov dword [0x800010], 0xA5A50001
    mov dword [0x600000], 0xB0B00001
    mov dword [0x610000], 0xB0B00002
    mov dword [0x220000], 0xC0C00001
    mov dword [0x230000], 0xC0C00002

    ; page directory: 0-4 MiB through a page table, 4-8 MiB as one 4 MiB page at 0x800000
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PD + 0], PT0 | 7
    mov dword [PD + 4], 0x800000 | 0x87         ; P W U PS
    mov edi, PT0
    mov eax, 7
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    loop .fill
    mov dword [PTE + (0x300000 >> 12) * 4], 0                   ; not present
    mov dword [PTE + (0x210000 >> 12) * 4], 0x210000 | 5        ; read-only

    mov eax, cr4
    or eax, 0x10                                ; PSE
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax

    mov eax, [0x400010]
    REPORT "pse.read", eax

    ; a page fault resolved by the handler; the write is restarted
    mov eax, pf_resolve
    mov ebx, 14
    mov edx, SEL_CODE0
    mov cl, 0x8E
    call set_gate
    mov dword [0x300004], 0xCAFE0001
    REPORT "pf.cr2", [var + 0]
    REPORT "pf.err", [var + 4]
    REPORT "pf.count", [var + 8]
    REPORT "pf.value", [0x300004]           ; now mapped to 0x500004
    mov eax, [isr_table + 14 * 4]
    mov ebx, 14
    mov edx, SEL_CODE0
    mov cl, 0x8E
    call set_gate

    ; accessed and dirty bits
    REPORT "ad.before", [PTE + (0x200000 >> 12) * 4]
    mov eax, [0x200000]
    REPORT "ad.read", [PTE + (0x200000 >> 12) * 4]
    mov dword [0x200000], 1
    REPORT "ad.write", [PTE + (0x200000 >> 12) * 4]
    REPORT "ad.pde", [PD + 0]
    mov dword [0x400020], 1
    REPORT "pse.pde", [PD + 4]

    ; CR0.WP: supervisor writes to read-only pages succeed without it, fault with it
    mov dword [0x210000], 0x11
    REPORT "wp.off", [0x210000]
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    EXPECT_FAULT .w1
    mov dword [0x210000], 0x22
.w1:
    REPORT "wp.vec", [last_vec]
    REPORT "wp.err", [last_err]
    REPORT "wp.cr2", [last_cr2]
    REPORT "wp.value", [0x210000]

    ; INVLPG and CR3 reloads drop stale translations
    mov eax, [0x220000]
    REPORT "tlb.old", eax
    mov dword [PTE + (0x220000 >> 12) * 4], 0x600000 | 7
    invlpg [0x220000]
    REPORT "invlpg.read", [0x220000]
    mov eax, [0x230000]
    mov dword [PTE + (0x230000 >> 12) * 4], 0x610000 | 7
    mov eax, cr3
    mov cr3, eax
    REPORT "cr3.read", [0x230000]

    ; global pages: toggling CR4.PGE drops global translations, INVLPG drops them too
    mov eax, cr4
    or eax, 0x80                                ; PGE
    mov cr4, eax
    mov dword [0x260000], 0xB0B00003           ; identity-mapped, so physical 0x260000
    mov dword [0x270000], 0xB0B00004
    mov dword [PTE + (0x250000 >> 12) * 4], 0x250000 | 0x107   ; global
    mov eax, [0x250000]
    mov dword [PTE + (0x250000 >> 12) * 4], 0x260000 | 0x107
    mov eax, cr4
    and eax, ~0x80
    mov cr4, eax
    or eax, 0x80
    mov cr4, eax
    REPORT "pge.toggle", [0x250000]
    mov dword [PTE + (0x250000 >> 12) * 4], 0x270000 | 0x107
    invlpg [0x250000]
    REPORT "pge.invlpg", [0x250000]

    ; a not-present page directory entry
    EXPECT_FAULT .n1
    mov eax, [0x800000]
.n1:
    REPORT "pde.vec", [last_vec]
    REPORT "pde.err", [last_err]
    REPORT "pde.cr2", [last_cr2]

    ; paging off: linear addresses are physical again
    mov eax, cr0
    and eax, 0x7FFFFFFF
    mov cr0, eax
    REPORT "nopg.read", [0x300004]
    REPORT "nopg.phys", [0x500004]
    ret

%include "tail.inc"
