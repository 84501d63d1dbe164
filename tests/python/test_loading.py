#!/usr/bin/env python3
"""How examples/python/spdf.py finds libspdf: importing loads nothing, the first call that needs
the library says how to choose one when none is found, and the search order is spdf.load(path),
then SPDF_LIBRARY, then the installed library, then the build trees of the source checkout the
module belongs to, never a build tree beside a copy of the module.

Each case runs a fresh interpreter on a copy of the module (or a stand-in checkout) with
SPDF_LIBRARY and LD_LIBRARY_PATH cleared.  SPDF_LIBRARY names the library under test.

Standard library only: SPDF_LIBRARY=build/lib/libspdf.so python3 tests/python/test_loading.py"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BINDING = os.path.join(ROOT, "examples", "python", "spdf.py")
LIBRARY = os.environ.get("SPDF_LIBRARY", "")


def clean_env(**overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPDF_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env.update(overrides)
    return env


def run_python(code, module_dir, **env):
    """Runs code in a new interpreter that imports spdf from module_dir; returns its stdout."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            cwd=module_dir, env=clean_env(PYTHONPATH=module_dir, **env),
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"exit status {result.returncode}\n{result.stdout}{result.stderr}")
    return result.stdout


def installed_library_present():
    """True when this system's loader finds some libspdf without help."""
    code = textwrap.dedent("""
        import ctypes, ctypes.util
        try:
            ctypes.CDLL("libspdf.so.0")
            print("yes")
        except OSError:
            print("yes" if ctypes.util.find_library("spdf") else "no")
    """)
    result = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True,
                            text=True, timeout=120)
    return result.stdout.strip() != "no"


# The first call that needs the library, in a child: what it loaded, or why it could not.
FIRST_CALL = textwrap.dedent("""
    import json, spdf
    try:
        spdf.version()
    except spdf.LibraryNotFoundError as e:
        assert isinstance(e, OSError)
        print("not found:", e)
    else:
        print("loaded:", spdf.lib.path)
""")


class Loading(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="spdf-loading-")
        self.addCleanup(shutil.rmtree, self.tmp)

    def copy_module(self, *parts):
        directory = os.path.join(self.tmp, *parts)
        os.makedirs(directory, exist_ok=True)
        shutil.copy(BINDING, directory)
        return directory

    def copy_library(self, *parts):
        path = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(LIBRARY, path)
        return path

    def require_no_installed_library(self):
        if installed_library_present():
            self.skipTest("a libspdf is installed on this system, so 'not found' cannot be shown")

    def test_import_loads_nothing_and_the_first_call_says_what_to_do(self):
        self.require_no_installed_library()
        out = run_python(FIRST_CALL, self.copy_module("anywhere"))
        self.assertTrue(out.startswith("not found:"), out)
        self.assertIn('spdf.load("/path/to/libspdf.so.0")', out)
        self.assertIn("SPDF_LIBRARY", out)
        self.assertIn("libspdf.so.0", out)  # what was tried

    def test_load_with_an_explicit_path_before_the_first_call(self):
        # A path object, and it wins over a wrong SPDF_LIBRARY.
        out = run_python(f"""
            import pathlib, spdf
            spdf.load(pathlib.Path({LIBRARY!r}))
            print(spdf.version(), spdf.lib.path)
        """, self.copy_module("anywhere"), SPDF_LIBRARY=os.path.join(self.tmp, "missing.so"))
        version, path = out.split()
        self.assertRegex(version, r"^\d+\.\d+\.\d+$")
        self.assertEqual(path, LIBRARY)

    def test_load_after_a_failed_first_call_and_of_a_bad_path(self):
        self.require_no_installed_library()
        missing = os.path.join(self.tmp, "no-such", "libspdf.so.0")
        out = run_python(f"""
            import spdf
            for attempt in (spdf.version, lambda: spdf.load({missing!r})):
                try:
                    attempt()
                except spdf.LibraryNotFoundError as e:
                    print("failed:", str(e).splitlines()[0])
            spdf.load({LIBRARY!r})
            print("loaded", spdf.version())
        """, self.copy_module("anywhere"))
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        self.assertIn(missing, lines[1])
        self.assertTrue(lines[2].startswith("loaded "), out)

    def test_spdf_library_is_honoured_and_never_replaced(self):
        chosen = self.copy_library("chosen", "libspdf.so")
        module = self.copy_module("examples", "python")
        self.copy_library("build", "lib", "libspdf.so")  # beside the copy: must stay unused
        out = run_python("""
            import spdf
            version = spdf.version()
            print(spdf.library_candidates() == [spdf.lib.path], spdf.lib.path, version)
        """, module, SPDF_LIBRARY=chosen)
        self.assertEqual(out.split()[:2], ["True", chosen])
        missing = os.path.join(self.tmp, "missing", "libspdf.so")
        out = run_python(FIRST_CALL, module, SPDF_LIBRARY=missing)
        self.assertTrue(out.startswith(f"not found: SPDF_LIBRARY={missing}:"), out)

    def test_a_copied_module_ignores_build_trees_beside_it(self):
        self.require_no_installed_library()
        # The layout a checkout has, without the checkout: ../../build*/lib next to the copy.
        self.copy_library("build", "lib", "libspdf.so")
        self.copy_library("build-other", "lib", "libspdf.so")
        for module in (self.copy_module("examples", "python"), self.copy_module("a", "b")):
            out = run_python(FIRST_CALL + "print(spdf.library_candidates())\n", module)
            self.assertTrue(out.startswith("not found:"), out)
            self.assertNotIn(self.tmp, out)  # neither tried nor listed

    def stand_in_checkout(self):
        """A directory laid out as a libspdf checkout, with one build tree."""
        with open(os.path.join(self.tmp, "meson.build"), "w", encoding="utf-8") as f:
            f.write("project('libspdf', 'c')\n")
        return self.copy_module("examples", "python"), self.copy_library("build-x", "lib",
                                                                         "libspdf.so")

    def test_a_checkout_module_uses_its_build_tree_after_the_installed_library(self):
        module, built = self.stand_in_checkout()
        if not installed_library_present():
            out = run_python(FIRST_CALL, module)
            self.assertEqual(out.strip(), f"loaded: {built}")
        # An installed library (found by the loader through LD_LIBRARY_PATH here) comes first.
        installed = self.copy_library("installed", "libspdf.so.0")
        out = run_python(FIRST_CALL + "print(json.dumps(spdf.library_candidates()))\n",
                         module, LD_LIBRARY_PATH=os.path.dirname(installed))
        first, candidates = out.splitlines()
        self.assertEqual(first, "loaded: libspdf.so.0")
        candidates = json.loads(candidates)
        self.assertEqual(candidates[0], "libspdf.so.0")
        self.assertEqual(candidates[-1], built)

    def test_this_checkouts_module_lists_this_checkouts_build_trees(self):
        library_dir = os.path.dirname(os.path.realpath(LIBRARY))
        if os.path.dirname(os.path.dirname(library_dir)) != os.path.realpath(ROOT):
            self.skipTest("the library under test is not in a build tree of this checkout")
        out = run_python("import spdf; print('\\n'.join(spdf.library_candidates()))",
                         os.path.dirname(BINDING))
        self.assertIn(library_dir, [os.path.dirname(os.path.realpath(p)) for p in out.split()])


if __name__ == "__main__":
    if not LIBRARY:
        sys.exit("set SPDF_LIBRARY to the libspdf.so under test")
    unittest.main(verbosity=2)
