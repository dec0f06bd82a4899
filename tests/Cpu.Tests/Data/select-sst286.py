#!/usr/bin/env python3
"""Derives tests/Cpu.Tests/Data/sst286 from the 1/8 slice of the SingleStepTests 80286 captures
(/work/shared/testdata/sst286, itself a selection of SingleStepTests/80286 v1_real_mode).

Kept per vector file: every test that raises an exception, and every third of the others (by position),
so the project carries about a third of the slice (under 10 MB). Usage: select-sst286.py SRC DST
"""
import gzip, json, os, shutil, sys

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
total = 0
for name in sorted(os.listdir(src)):
    if not name.endswith('.jsonl.gz'):
        continue
    kept = []
    with gzip.open(os.path.join(src, name), 'rt') as f:
        for pos, line in enumerate(f):
            if 'exception' in json.loads(line) or pos % 3 == 0:
                kept.append(line)
    with gzip.GzipFile(os.path.join(dst, name), 'wb', mtime=0) as g:
        g.write(''.join(kept).encode())
    total += len(kept)
for extra in ('README.md', 'revocation_list.txt'):
    shutil.copy(os.path.join(src, extra), os.path.join(dst, extra))
print(f'{total} tests kept')
