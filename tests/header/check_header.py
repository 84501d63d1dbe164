#!/usr/bin/env python3
# Compiles a translation unit that includes only the public header with a strict language mode and
# every warning as an error; with --link, also links it against libspdf.so and runs it.
"""Usage: check_header.py --std STD --include DIR --source FILE [--link LIBRARY] [--sanitize LIST]
                       -- COMPILER [ARGS...]"""

import argparse
import os
import subprocess
import sys
import tempfile

WARNINGS = ["-pedantic", "-Wall", "-Wextra", "-Wshadow", "-Werror"]


def run(command, **kwargs):
    print("$ " + " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    print(result.stdout + result.stderr, end="")
    return result.returncode


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("--std", required=True)
    parser.add_argument("--include", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--link")
    parser.add_argument("--sanitize", default="none")
    parser.add_argument("compiler", nargs="+")
    args = parser.parse_args()

    flags = ["-std=" + args.std, *WARNINGS, "-I", args.include]
    if args.sanitize not in ("", "none"):
        flags.append("-fsanitize=" + args.sanitize)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.link:
            return 1 if run([*args.compiler, *flags, "-c", args.source, "-o",
                             os.path.join(tmp, "header.o")]) else 0
        program = os.path.join(tmp, "header")
        if run([*args.compiler, *flags, args.source, args.link, "-o", program]):
            return 1
        env = dict(os.environ)
        libdir = os.path.dirname(os.path.abspath(args.link))
        env["LD_LIBRARY_PATH"] = libdir + os.pathsep + env.get("LD_LIBRARY_PATH", "")
        status = run([program], env=env)
        if status:
            print(f"the program exited with status {status}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
