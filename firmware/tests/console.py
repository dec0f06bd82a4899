#!/usr/bin/env python3
"""Runs an emulator with its serial console on stdin/stdout and plays a short script against it.

    console.py --log FILE --timeout SECONDS [--expect REGEX [--send TEXT]]... -- COMMAND...

Each --expect waits (within the overall timeout) until REGEX matches the console output that came after
the previous match; the --send that follows it is then typed (escapes such as \\r are understood).
After the last step it waits for the emulator to exit. Prints one line and exits with:
    the emulator's own exit status   if every expectation was met and it exited by itself
    124                              on the timeout (the emulator is killed; the line says what was awaited)
    125                              if the emulator exited before an expectation was met
The whole console transcript goes to --log.
"""
import argparse
import os
import re
import select
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("--send", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("console.py: no command given", file=sys.stderr)
        return 2
    # --send belongs to the --expect before it: pair them in command-line order.
    steps, pending = [], None
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--":
            break
        if a == "--expect":
            if pending is not None:
                steps.append((pending, None))
            pending = argv[i + 1]
        elif a == "--send":
            if pending is None:
                print("console.py: --send must follow an --expect", file=sys.stderr)
                return 2
            steps.append((pending, argv[i + 1].encode().decode("unicode_escape")))
            pending = None
    if pending is not None:
        steps.append((pending, None))

    deadline = time.monotonic() + args.timeout
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=0)
    output = b""
    searched_from = 0
    status = None
    with open(args.log, "wb") as log:
        def pump(wait: float) -> bool:
            """Reads what the emulator printed; False once its output is closed."""
            nonlocal output
            ready, _, _ = select.select([proc.stdout], [], [], wait)
            if not ready:
                return True
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return False
            output += chunk
            log.write(chunk)
            log.flush()
            return True

        open_ = True
        for regex, text in steps:
            pattern = re.compile(regex.encode())
            while True:
                m = pattern.search(output, searched_from)
                if m:
                    searched_from = m.end()
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    proc.kill()
                    proc.wait()
                    print(f"timeout after {args.timeout:.0f} s waiting for /{regex}/ (transcript: {args.log})")
                    return 124
                if not open_:
                    proc.wait()
                    print(f"the emulator exited (status {proc.returncode}) before /{regex}/ appeared "
                          f"(transcript: {args.log})")
                    return 125
                open_ = pump(min(remaining, 0.2))
            if text is not None:
                time.sleep(0.2)
                proc.stdin.write(text.encode())
                proc.stdin.flush()
        while open_ or proc.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait()
                print(f"timeout after {args.timeout:.0f} s waiting for the emulator to exit (transcript: {args.log})")
                return 124
            if open_:
                open_ = pump(min(remaining, 0.2))
            else:
                time.sleep(0.05)
        status = proc.returncode
    print(f"the emulator exited with status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
