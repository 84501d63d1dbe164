"""What the structure checks share: the C sources of a folder and the report of a check."""
import os
import sys


def sources(directory):
    """The .c and .h files below directory, in a stable order."""
    for base, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                yield os.path.join(base, name)


def run(check, doc, kind, ok_message):
    """Runs check(SOURCE_ROOT) from the command line: one line per problem and exit 1, or the
    ok message and exit 0."""
    if len(sys.argv) != 2:
        sys.exit(doc)
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} {kind} violation(s)")
        return 1
    print(ok_message)
    return 0
