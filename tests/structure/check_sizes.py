#!/usr/bin/env python3
"""Size limits of the library and tool sources: no file in lib/ or src/ over MAX_FILE lines and
no function over MAX_FUNCTION lines (its body, from the opening to the closing brace, which
the project's style puts alone at the start of a line).
Usage: check_sizes.py SOURCE_ROOT   (exit 1 and one line per violation on failure)
"""
import os
import sys

from structure_check import run, sources

MAX_FILE = 800
MAX_FUNCTION = 100


def check(root):
    problems = []
    for top in ("lib", "src"):
        for path in sources(os.path.join(root, top)):
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            if len(lines) - 1 > MAX_FILE:
                problems.append(f"{rel}: {len(lines) - 1} lines (limit {MAX_FILE})")
            start = None
            for number, line in enumerate(lines, 1):
                if line == "{":
                    start = number
                elif line == "}" and start is not None:
                    length = number - start - 1
                    if length > MAX_FUNCTION:
                        signature = lines[start - 2].strip()
                        problems.append(f"{rel}:{start}: a function of {length} lines "
                                        f"(limit {MAX_FUNCTION}): {signature}")
                    start = None
    return problems


if __name__ == "__main__":
    sys.exit(run(check, __doc__, "size",
                 f"sizes: every file of lib/ and src/ within {MAX_FILE} lines, every function "
                 f"within {MAX_FUNCTION}"))
