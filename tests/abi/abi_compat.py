#!/usr/bin/env python3
# ABI compatibility of the freshly built libspdf.so with the committed baseline abi/libspdf.abi:
# fails on a removed function, a changed signature or a changed public type; added functions pass.
"""Usage: abi_compat.py SOURCE_ROOT LIBRARY"""

import os
import shutil
import subprocess
import sys
import tempfile

# The same options abi/update.sh dumps the baseline with: only types from include/ are compared.
ABIDW_OPTIONS = ["--no-corpus-path", "--no-comp-dir-path", "--no-elf-needed", "--drop-private-types",
                 "--type-id-style", "hash"]

# abidiff's exit status is a bit field.
ABIDIFF_ERROR, ABIDIFF_USAGE_ERROR, ABIDIFF_ABI_CHANGE, ABIDIFF_INCOMPATIBLE = 1, 2, 4, 8


def has_debug_info(library):
    out = subprocess.run(["readelf", "-S", "-W", library], capture_output=True, text=True, check=True)
    return ".debug_info" in out.stdout


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__ + "\n")
        return 2
    source_root, library = argv[1], argv[2]
    baseline = os.path.join(source_root, "abi", "libspdf.abi")
    for tool in ("abidw", "abidiff", "readelf"):
        if not shutil.which(tool):
            print(f"{tool} not found: install abigail-tools and binutils")
            return 1
    if not os.path.exists(baseline):
        print(f"{baseline} is missing: run abi/update.sh")
        return 1
    if not has_debug_info(library):
        print(f"{library} has no debug info (configure with -Ddebug=true): skipped")
        return 77

    with tempfile.TemporaryDirectory() as tmp:
        current = os.path.join(tmp, "libspdf.abi")
        subprocess.run(["abidw", *ABIDW_OPTIONS, "--headers-dir", os.path.join(source_root, "include"),
                        "--out-file", current, library], check=True)
        # --no-added-syms: new functions are compatible.  Every remaining report fails the test:
        # abidiff sets only ABIDIFF_ABI_CHANGE (4), not ABIDIFF_INCOMPATIBLE (8), for a changed
        # parameter, return or struct type, so testing bit 8 alone would let those through.
        diff = subprocess.run(["abidiff", "--no-added-syms", baseline, current],
                              capture_output=True, text=True)
        print(diff.stdout, end="")
        print(diff.stderr, end="", file=sys.stderr)
        status = diff.returncode
        if status & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
            print(f"abidiff failed to run (exit status {status})")
            return 1
        if status & (ABIDIFF_ABI_CHANGE | ABIDIFF_INCOMPATIBLE):
            kind = "an incompatible ABI change" if status & ABIDIFF_INCOMPATIBLE else "an ABI change"
            print(f"FAIL: {kind} (abidiff exit status {status}) against abi/libspdf.abi.\n"
                  "If the change is deliberate, run abi/update.sh and commit abi/ with the header "
                  "(docs/abi.md).")
            return 1

        added = subprocess.run(["abidiff", "--no-show-locs", baseline, current],
                               capture_output=True, text=True)
        if added.returncode & ABIDIFF_ABI_CHANGE:
            print("Compatible additions not yet in the baseline (run abi/update.sh to record them):")
            print(added.stdout, end="")
    print("ABI compatible with abi/libspdf.abi")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
