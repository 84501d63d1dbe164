#!/usr/bin/env python3
# The dynamic symbols libspdf.so defines are exactly the SPDF_API functions of include/spdf.h and
# the list in abi/libspdf.map, each bound to its version node: nothing private leaks.
"""Usage: exported_symbols.py SOURCE_ROOT LIBRARY [NM]"""

import os
import subprocess
import sys


def defined_dynamic_symbols(nm, library):
    """{name: (version, is_default)} of the defined dynamic symbols, and the version node names."""
    out = subprocess.run([nm, "-D", "--defined-only", library], capture_output=True, text=True,
                         check=True).stdout
    symbols, nodes = {}, set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        kind, name = fields[1], fields[2]
        if "@" not in name:
            if kind == "A":  # the absolute symbol naming a version node
                nodes.add(name)
            else:
                symbols[name] = (None, False)
            continue
        default = "@@" in name
        base, version = name.split("@@" if default else "@", 1)
        symbols[base] = (version, default)
    return symbols, nodes


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__ + "\n")
        return 2
    source_root, library = argv[1], argv[2]
    nm = argv[3] if len(argv) == 4 else "nm"
    sys.dont_write_bytecode = True  # keep the source tree clean
    sys.path.insert(0, os.path.join(source_root, "abi"))
    import symbols as abi_symbols  # pylint: disable=import-outside-toplevel

    header = set(abi_symbols.header_functions(os.path.join(source_root, "include", "spdf.h")))
    mapped = abi_symbols.map_symbols(os.path.join(source_root, "abi", "libspdf.map"))
    exported, nodes = defined_dynamic_symbols(nm, library)
    problems = []

    for name, (version, default) in sorted(exported.items()):
        if not name.startswith("spdf_"):
            problems.append(f"{name}: exported but not in the spdf_ namespace")
        if version is None:
            problems.append(f"{name}: exported without a symbol version")
        elif not default:
            problems.append(f"{name}@{version}: not the default version (@@)")
        elif name in mapped and version != mapped[name]:
            problems.append(f"{name}@@{version}: the map lists it in {mapped[name]}")
    for node in sorted(nodes - set(mapped.values())):
        problems.append(f"version node {node} is not in abi/libspdf.map")

    def compare(left_name, left, right_name, right, hint):
        for name in sorted(left - right):
            problems.append(f"{name}: in {left_name} but not in {right_name} ({hint})")

    exported_names = set(exported)
    compare("include/spdf.h", header, "abi/libspdf.map", set(mapped), "run abi/update.sh")
    compare("abi/libspdf.map", set(mapped), "include/spdf.h", header, "run abi/update.sh")
    compare("include/spdf.h", header, "the library", exported_names,
            "declared with SPDF_API but not defined: implement it or remove the declaration")
    compare("the library", exported_names, "include/spdf.h", header,
            "exported but not declared with SPDF_API")

    print(f"{len(exported_names)} exported, {len(header)} declared with SPDF_API, "
          f"{len(mapped)} in the version script")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("exported symbols match include/spdf.h and abi/libspdf.map")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
