#!/usr/bin/env python3
# Installs the build tree into a staging directory and builds the examples a user would build
# against the installed package, through `pkg-config spdf` only: examples/c/train.c (C11, run
# for a few steps of sparse pre-training and dense fine-tuning) and examples/c/link.cpp (C++).
"""Usage: install_examples.py --build-root DIR --source-root DIR --version VERSION
                          [--sanitize LIST] [--cxx ARG ...] -- CC [ARGS...]"""

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


def staged(destdir, prefix, path):
    return os.path.join(destdir, os.path.join(prefix, path).lstrip("/"))


def check(destdir, args):
    with open(os.path.join(args.build_root, "meson-info", "intro-buildoptions.json"),
              encoding="utf-8") as f:
        options = {option["name"]: option["value"] for option in json.load(f)}
    libdir = staged(destdir, options["prefix"], options["libdir"])
    meson, pkg_config = shutil.which("meson"), shutil.which("pkg-config")
    if not meson or not pkg_config:
        raise RuntimeError("meson and pkg-config must be on PATH")
    run([meson, "install", "-C", args.build_root, "--destdir", destdir, "--no-rebuild", "--quiet"])

    # Only the staged spdf.pc; the system's stay visible for its Requires.private.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKG_CONFIG")}
    env.update(PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"), PKG_CONFIG_SYSROOT_DIR=destdir)
    version = run([pkg_config, "--modversion", "spdf"], env=env).strip()
    if version != args.version:
        raise RuntimeError(f"pkg-config --modversion spdf is {version}, expected {args.version}")
    cflags = shlex.split(run([pkg_config, "--cflags", "spdf"], env=env))
    libs = shlex.split(run([pkg_config, "--libs", "spdf"], env=env))
    sanitize = [] if args.sanitize in ("", "none") else ["-fsanitize=" + args.sanitize]
    examples = os.path.join(args.source_root, "examples", "c")
    run_env = dict(os.environ, LD_LIBRARY_PATH=libdir)

    # The C trainer: strict C11, then a short run that also exports the model.
    train = os.path.join(destdir, "train")
    run([*args.compiler, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", *sanitize,
         *cflags, os.path.join(examples, "train.c"), "-o", train, *libs])
    if shutil.which("ldd"):
        loaded = [l for l in run(["ldd", train], env=run_env).splitlines() if "libspdf" in l]
        if not loaded or destdir not in loaded[0]:
            raise RuntimeError("train does not load libspdf from the staged installation")
    text = os.path.join(args.source_root, "examples", "data", "tinyshakespeare", "input.txt")
    exported = os.path.join(destdir, "model.safetensors")
    output = run([train, text, "--steps", "4", "--finetune-steps", "2", "--export", exported],
                 env=run_env)
    if "final validation loss" not in output or not os.path.getsize(exported) > 8:
        raise RuntimeError("the C trainer did not finish its run")

    # The C++ translation unit.
    if args.cxx:
        link = os.path.join(destdir, "link")
        run([*args.cxx, "-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", *sanitize,
             *cflags, os.path.join(examples, "link.cpp"), "-o", link, *libs])
        if f"libspdf {args.version} from C++" not in run([link], env=run_env):
            raise RuntimeError("the C++ program did not run")
    else:
        print("no C++ compiler: link.cpp not built")

    # The MPI trainer, through mpicc and the same pkg-config flags, run on 2 ranks.
    mpicc, mpirun = shutil.which("mpicc"), shutil.which("mpirun")
    if mpicc and mpirun and not sanitize:
        train_mpi = os.path.join(destdir, "train_mpi")
        run([mpicc, "-std=c11", "-Wall", "-Wextra", "-Werror", *cflags, os.path.join(examples, "train_mpi.c"),
             "-o", train_mpi, *libs])
        mpi_env = dict(run_env, OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none")
        output = run([mpirun, "-np", "2", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", train_mpi,
                      text, "--steps", "4", "--finetune-steps", "2"], env=mpi_env)
        if "identical on all 2 ranks after dense fine-tuning" not in output:
            raise RuntimeError("the MPI trainer did not finish its run: " + output)
    else:
        print("SKIP: train_mpi.c not built (no mpicc and mpirun%s)" % (", or a sanitizer build" if sanitize else ""))


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("--build-root", required=True)
    parser.add_argument("--source-root", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--sanitize", default="none")
    parser.add_argument("--cxx", action="append", default=[])
    parser.add_argument("compiler", nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spdf-examples-") as destdir:
        try:
            check(os.path.realpath(destdir), args)
        except RuntimeError as e:
            print(f"FAIL: {e}")
            return 1
    print("the examples build and run against the installed package")
    return 0


if __name__ == "__main__":
    sys.exit(main())
