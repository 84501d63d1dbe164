"""Helpers shared by the tests of the spdf command-line tool (tests/cli/test_*.py).

Each test script takes the path of the spdf executable as its first argument, runs it in a
temporary directory and exits 0 on success, 1 on failure and 77 when it is skipped (meson reports
SKIP)."""
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77

# The documented exit codes (docs/cli.md).
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Failure(Exception):
    pass


def spdf_path():
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH/TO/spdf" % sys.argv[0])
    return os.path.abspath(sys.argv[1])


def source_root():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def example_data():
    return os.environ.get("SPDF_EXAMPLE_DATA", os.path.join(source_root(), "examples", "data"))


def shared_data():
    return os.environ.get("SPDF_SHARED_DATA", os.path.join(source_root(), "..", "shared", "data"))


def environment():
    env = dict(os.environ)
    env.setdefault("GOMP_SPINCOUNT", "10000")
    return env


def run(args, timeout=600, cwd=None):
    """Runs spdf with args; returns (returncode, stdout, stderr) as text."""
    result = subprocess.run([spdf_path()] + [str(a) for a in args], capture_output=True, timeout=timeout,
                            cwd=cwd, env=environment())
    return (result.returncode, result.stdout.decode("utf-8", "replace"),
            result.stderr.decode("utf-8", "replace"))


def check(condition, message):
    if not condition:
        raise Failure(message)


def ok(args, **kwargs):
    """Runs spdf and requires exit status 0; returns stdout."""
    code, out, err = run(args, **kwargs)
    check(code == 0, "spdf %s: exit %d, stderr: %s" % (" ".join(map(str, args)), code, err.strip()))
    return out


def ok_json(args, **kwargs):
    return json.loads(ok(list(args) + ["--json"], **kwargs))


def error(args, expected_code, contains=None, **kwargs):
    """Runs spdf and requires the documented failure: exit status expected_code, nothing on
    stdout and exactly one line on stderr (optionally containing `contains`)."""
    code, out, err = run(args, **kwargs)
    what = "spdf %s" % " ".join(map(str, args))
    check(code == expected_code, "%s: exit %d, expected %d (stderr: %r)" % (what, code, expected_code, err))
    check(out == "", "%s: expected nothing on stdout, got %r" % (what, out[:200]))
    check(err.endswith("\n") and err.count("\n") == 1,
          "%s: expected exactly one line on stderr, got %r" % (what, err))
    check(err.startswith("spdf"), "%s: the message should name the command: %r" % (what, err))
    if contains:
        check(contains in err, "%s: expected %r in %r" % (what, contains, err))
    return err


def main(test):
    """Runs test(workdir) in a fresh temporary directory and exits with its verdict."""
    try:
        with tempfile.TemporaryDirectory(prefix="spdf-cli-") as workdir:
            result = test(workdir)
    except Failure as failure:
        print("FAIL: %s" % failure)
        sys.exit(1)
    if result == SKIP:
        sys.exit(SKIP)
    print("PASS")
    sys.exit(0)


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# A tiny model that trains in a fraction of a second per step.
TINY_MODEL = ["--layers", "2", "--heads", "2", "--width", "32", "--context", "32", "--batch", "4",
              "--max-seq-len", "160", "--eval-batches", "2", "--warmup", "5"]


def tiny_corpus(workdir):
    """The first 100 kB of Tiny Shakespeare, as text."""
    with open(os.path.join(example_data(), "tinyshakespeare", "input.txt"), "rb") as f:
        text = f.read(100000)
    path = os.path.join(workdir, "corpus.txt")
    with open(path, "wb") as f:
        f.write(text)
    return path
