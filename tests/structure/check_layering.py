#!/usr/bin/env python3
"""The include directions of lib/ and src/ against lib/layers.txt (after Chromium's checkdeps).

Every `#include "folder/file.h"` in lib/<folder>/ must name its own folder or one that
lib/layers.txt allows for it; src/ (the spdf tool) may include only <spdf.h> and its own headers.
Usage: check_layering.py SOURCE_ROOT   (exit 1 and one line per violation on failure)
"""
import os
import re
import sys

from structure_check import run, sources

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def read_rules(path):
    rules = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            folder, _, allowed = line.partition(":")
            if not _:
                sys.exit(f"{path}:{number}: expected 'folder: allowed folders'")
            rules[folder.strip()] = set(allowed.split())
    return rules


def check(root):
    lib = os.path.join(root, "lib")
    rules = read_rules(os.path.join(lib, "layers.txt"))
    folders = {d for d in os.listdir(lib) if os.path.isdir(os.path.join(lib, d))}
    problems = []
    for folder in sorted(folders - rules.keys()):
        problems.append(f"lib/{folder}/: no rule in lib/layers.txt")
    for folder, allowed in rules.items():
        for other in sorted(allowed - folders):
            problems.append(f"lib/layers.txt: {folder} allows unknown folder {other}")
    for path in sources(lib):
        folder = os.path.relpath(path, lib).split(os.sep)[0]
        allowed = rules.get(folder, set()) | {folder}
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for kind, name in INCLUDE.findall(text):
            if kind == "<" or "/" not in name:
                continue  # system headers, spdf.h, and files beside this one
            target = name.split("/")[0]
            if target in folders and target not in allowed:
                problems.append(f"{os.path.relpath(path, root)}: includes \"{name}\": "
                                f"lib/{folder} may not depend on lib/{target} (lib/layers.txt)")
    src = os.path.join(root, "src")
    own = {os.path.basename(p) for p in sources(src)}
    for path in sources(src):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for kind, name in INCLUDE.findall(text):
            if kind == '"' and name not in own:
                problems.append(f"{os.path.relpath(path, root)}: includes \"{name}\": the spdf "
                                "tool uses the public API only (<spdf.h>)")
            if kind == "<" and name.split("/")[0] in folders:
                problems.append(f"{os.path.relpath(path, root)}: includes <{name}>: private")
    return problems


if __name__ == "__main__":
    sys.exit(run(check, __doc__, "layering", "layering: every include follows lib/layers.txt"))
