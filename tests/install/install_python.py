#!/usr/bin/env python3
# The Python binding as a user installs it, imported by a fresh interpreter away from the checkout:
#   --check meson  `meson install` into a staging directory; the staged module imports with the
#                  Python it was installed for and loads the staged libspdf as an installed
#                  library (libspdf.so.0 through the loader, LD_LIBRARY_PATH standing in for the
#                  loader's cache), with no SPDF_LIBRARY; the module is where that Python looks.
#   --check pip    `pip install --no-build-isolation --no-index` of a copy of the source tree
#                  into a target directory (offline: the system's setuptools and wheel); the
#                  installed module has the version of meson.build, and loads SPDF_LIBRARY.
"""Usage: install_python.py --check meson|pip --build-root DIR --source-root DIR --version VERSION
                         --python PYTHON   (SPDF_LIBRARY: the library under test)"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

SKIP = 77  # meson's exit status for a skipped test

# Run by the installed module's interpreter: where the module and its library came from.
PROBE = """
import json, spdf
version = spdf.version()
print(json.dumps({"module": spdf.__file__, "library": spdf.lib.path, "version": version,
                  "candidates": spdf.library_candidates()}))
"""


def run(command, **kwargs):
    print("$ " + " ".join(shlex.quote(c) for c in command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    print(result.stdout + result.stderr, end="", flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"exit status {result.returncode}: {command[0]}")
    return result.stdout


def probe(python, module_dir, cwd, **env):
    """Imports spdf from module_dir in a new interpreter with only the given library settings."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SPDF_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    clean.update(env, PYTHONPATH=module_dir, PYTHONNOUSERSITE="1")
    return json.loads(run([python, "-c", PROBE], cwd=cwd, env=clean).splitlines()[-1])


def build_options(build_root):
    with open(os.path.join(build_root, "meson-info", "intro-buildoptions.json"),
              encoding="utf-8") as f:
        return {option["name"]: option["value"] for option in json.load(f)}


def check_meson(args, tmp):
    destdir = os.path.join(tmp, "stage")
    run(["meson", "install", "-C", args.build_root, "--destdir", destdir, "--no-rebuild",
         "--quiet"])
    with open(os.path.join(args.build_root, "meson-info", "intro-installed.json"),
              encoding="utf-8") as f:
        installed = json.load(f)
    targets = {os.path.basename(source): destination for source, destination in installed.items()}
    if "spdf.py" not in targets:
        raise RuntimeError("meson does not install the Python module")
    staged = lambda path: os.path.join(destdir, path.lstrip("/"))  # noqa: E731
    module = staged(targets["spdf.py"])
    libdir = os.path.dirname(staged(targets["libspdf.so.0"]))
    if not os.path.isfile(module):
        raise RuntimeError(f"not installed: {module}")
    # Where that Python looks under the prefix, if anywhere (Debian's python3 under /usr/local
    # reads lib/python3.X/dist-packages, not meson's default lib/python3/dist-packages).
    prefix = build_options(args.build_root)["prefix"].rstrip("/") + "/"
    searched = [p for p in json.loads(run([args.python, "-c", "import json, sys; "
                                           "print(json.dumps(sys.path))"], cwd=tmp))
                if p.startswith(prefix)]
    if searched and os.path.dirname(targets["spdf.py"]) not in searched:
        raise RuntimeError(f"{targets['spdf.py']} is not where {args.python} looks: {searched}")
    found = probe(args.python, os.path.dirname(module), tmp, LD_LIBRARY_PATH=libdir)
    if found["module"] != module or found["library"] != "libspdf.so.0":
        raise RuntimeError(f"expected the staged module on the installed library, got {found}")
    if found["version"] != args.version:
        raise RuntimeError(f"the staged library reports {found['version']}, not {args.version}")


def pip_usable(python):
    """None when python can build the package offline, else why not."""
    code = ("import importlib.util as u, setuptools\n"
            "v = tuple(int(x) for x in setuptools.__version__.split('.')[:2])\n"
            "missing = [m for m in ('pip',) + (('wheel',) if v < (70, 1) else ())"
            " if u.find_spec(m) is None]\n"
            "print('setuptools < 61' if v < (61, 0) else ' '.join(missing))\n")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        return "no setuptools"
    return result.stdout.strip() and f"missing: {result.stdout.strip()}"


def check_pip(args, tmp):
    reason = pip_usable(args.python)
    if reason:
        print(f"SKIP: {args.python} cannot build offline ({reason}; on Debian: python3-pip "
              "python3-setuptools python3-wheel)")
        return SKIP
    # A copy, so that setuptools' scratch files stay out of the shared checkout.
    source = os.path.join(tmp, "source")
    def skipped(directory, names):  # build directories, caches, the repository's history
        top = os.path.samefile(directory, args.source_root)
        return [n for n in names if n == "__pycache__"
                or (top and (n in (".git", "out") or n.startswith("build")))]
    shutil.copytree(args.source_root, source, ignore=skipped)
    target = os.path.join(tmp, "site")
    build_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # loads no libspdf
    run([args.python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
         "--disable-pip-version-check", "--target", target, source], cwd=tmp, env=build_env)
    strays = [p for p in (os.path.join(source, "build"),
                          os.path.join(source, "examples", "python", "spdf.egg-info"))
              if os.path.exists(p)]
    if strays:  # build/ is where meson's build directory usually is
        raise RuntimeError(f"pip's build wrote into the source tree: {strays}")
    if not os.path.isdir(os.path.join(target, f"spdf-{args.version}.dist-info")):
        raise RuntimeError(f"pip did not install spdf {args.version} (pyproject.toml's version "
                           "must be meson.build's)")
    found = probe(args.python, target, tmp, SPDF_LIBRARY=os.environ["SPDF_LIBRARY"])
    if found["module"] != os.path.join(target, "spdf.py"):
        raise RuntimeError(f"imported {found['module']}, not the pip-installed module")
    if found["candidates"] != [os.environ["SPDF_LIBRARY"]] or found["version"] != args.version:
        raise RuntimeError(f"the pip-installed module did not load SPDF_LIBRARY: {found}")
    return 0


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("--check", choices=("meson", "pip"), required=True)
    parser.add_argument("--build-root", required=True)
    parser.add_argument("--source-root", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--python", required=True)
    args = parser.parse_args()
    if not os.environ.get("SPDF_LIBRARY"):
        sys.exit("set SPDF_LIBRARY to the libspdf.so under test")
    with tempfile.TemporaryDirectory(prefix="spdf-python-") as tmp:
        try:
            if args.check == "meson":
                check_meson(args, os.path.realpath(tmp))
                status = 0
            else:
                status = check_pip(args, os.path.realpath(tmp))
        except RuntimeError as e:
            print(f"FAIL: {e}")
            return 1
    if status == 0:
        print(f"the Python module installed by {args.check} works")
    return status


if __name__ == "__main__":
    sys.exit(main())
