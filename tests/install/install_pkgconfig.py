#!/usr/bin/env python3
# Installs the build tree into a staging directory and builds tests/install/consumer.c against the
# installed header and library found through `pkg-config spdf`, as a user of the package would:
# linked with libspdf.so, and statically through `pkg-config --static`.  Runs the staged bin/spdf
# and the static consumer with no LD_LIBRARY_PATH: outside the loader's default paths, the tool
# finds its library through its RUNPATH, and the static consumer needs none.
"""Usage: install_pkgconfig.py --build-root DIR --version VERSION [--sanitize LIST] -- CC [ARGS...]"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile


def run(command, **kwargs):
    print("$ " + " ".join(shlex.quote(c) for c in command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    print(result.stdout + result.stderr, end="", flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"exit status {result.returncode}: {command[0]}")
    return result.stdout


def build_options(build_root):
    with open(os.path.join(build_root, "meson-info", "intro-buildoptions.json"), encoding="utf-8") as f:
        return {option["name"]: option["value"] for option in json.load(f)}


def staged(destdir, prefix, path):
    return os.path.join(destdir, os.path.join(prefix, path).lstrip("/"))


def check(destdir, args):
    options = build_options(args.build_root)
    prefix = options["prefix"]
    libdir = staged(destdir, prefix, options["libdir"])
    includedir = staged(destdir, prefix, options["includedir"])
    meson = shutil.which("meson")
    pkg_config = shutil.which("pkg-config")
    if not meson or not pkg_config:
        raise RuntimeError("meson and pkg-config must be on PATH")

    run([meson, "install", "-C", args.build_root, "--destdir", destdir, "--no-rebuild", "--quiet"])
    for path in (os.path.join(includedir, "spdf.h"), os.path.join(libdir, "libspdf.so"),
                 os.path.join(libdir, "libspdf.so.0"), os.path.join(libdir, "pkgconfig", "spdf.pc")):
        if not os.path.exists(path):
            raise RuntimeError(f"not installed: {path}")

    # The staged spdf.pc comes first; the system's .pc files stay visible.  The sysroot maps
    # ${prefix} into the staging tree, as a DESTDIR stage needs (docs/getting-started.md).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKG_CONFIG")}
    env.update(PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"), PKG_CONFIG_SYSROOT_DIR=destdir)
    version = run([pkg_config, "--modversion", "spdf"], env=env).strip()
    if version != args.version:
        raise RuntimeError(f"pkg-config --modversion spdf is {version}, expected {args.version}")
    cflags = shlex.split(run([pkg_config, "--cflags", "spdf"], env=env))
    libs = shlex.split(run([pkg_config, "--libs", "spdf"], env=env))
    if "-I" + includedir not in cflags or "-L" + libdir not in libs or "-lspdf" not in libs:
        raise RuntimeError("pkg-config does not point into the staged installation")

    program = os.path.join(destdir, "consumer")
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "consumer.c")
    sanitize = [] if args.sanitize in ("", "none") else ["-fsanitize=" + args.sanitize]
    run([*args.compiler, "-std=c11", "-Wall", "-Wextra", "-Werror", *sanitize, *cflags, source,
         "-o", program, *libs])

    run_env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    if shutil.which("ldd"):
        loaded = [line for line in run(["ldd", program], env=run_env).splitlines() if "libspdf" in line]
        if not loaded or destdir not in loaded[0]:
            raise RuntimeError("the consumer does not load libspdf from the staged installation")
    output = run([program], env=run_env)
    if f"libspdf {args.version}" not in output:
        raise RuntimeError(f"the consumer did not print the version {args.version}")

    bare_env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    check_installed_tool(destdir, staged(destdir, prefix, options["bindir"]), args, bare_env)
    check_static_consumer(destdir, pkg_config, source, sanitize, env, args, bare_env)


def shared_libraries(program):
    """The DT_NEEDED entries of program."""
    dynamic = run(["readelf", "-d", program])
    return [line.split("[", 1)[1].rstrip("]") for line in dynamic.splitlines()
            if "(NEEDED)" in line]


def check_installed_tool(destdir, bindir, args, bare_env):
    """The staged bin/spdf runs without LD_LIBRARY_PATH, on the staged libspdf."""
    tool = os.path.join(bindir, "spdf")
    if shutil.which("ldd"):
        loaded = [line for line in run(["ldd", tool], env=bare_env).splitlines()
                  if "libspdf" in line]
        if not loaded or destdir not in loaded[0]:
            raise RuntimeError(f"the installed spdf does not find the staged libspdf: {loaded}")
    output = run([tool, "--version"], env=bare_env)
    if f"libspdf {args.version}" not in output:
        raise RuntimeError(f"the installed spdf --version did not report libspdf {args.version}")


def check_static_consumer(destdir, pkg_config, source, sanitize, env, args, bare_env):
    """consumer.c linked with libspdf.a through `pkg-config --static --libs spdf`: with only
    libspdf taken from its archive (-l:libspdf.a), and fully static where no sanitizer runs."""
    cflags = shlex.split(run([pkg_config, "--cflags", "spdf"], env=env))
    libs = shlex.split(run([pkg_config, "--static", "--libs", "spdf"], env=env))
    if "-lspdf" not in libs:
        raise RuntimeError("pkg-config --static --libs spdf has no -lspdf")
    archive_libs = ["-l:libspdf.a" if flag == "-lspdf" else flag for flag in libs]
    builds = [("consumer-archive", archive_libs, [])]
    if not sanitize:  # the sanitizer runtimes cannot be linked statically
        builds.append(("consumer-static", libs, ["-static"]))
    for name, flags, mode in builds:
        program = os.path.join(destdir, name)
        run([*args.compiler, *mode, "-std=c11", "-Wall", "-Wextra", "-Werror", *sanitize,
             *cflags, source, "-o", program, *flags])
        needed = shared_libraries(program)
        if any(library.startswith("libspdf") for library in needed):
            raise RuntimeError(f"{name} needs a shared libspdf: {needed}")
        if mode and needed:
            raise RuntimeError(f"{name} is not statically linked: {needed}")
        if f"libspdf {args.version}" not in run([program], env=bare_env):
            raise RuntimeError(f"{name} did not print the version {args.version}")


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("--build-root", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--sanitize", default="none")
    parser.add_argument("compiler", nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spdf-install-") as destdir:
        try:
            check(os.path.realpath(destdir), args)
        except RuntimeError as e:
            print(f"FAIL: {e}")
            return 1
    print("installed package works through pkg-config")
    return 0


if __name__ == "__main__":
    sys.exit(main())
