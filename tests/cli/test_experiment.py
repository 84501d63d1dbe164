"""spdf experiment: a tiny grid end to end (outputs, their structure and ranges), a rerun that skips
every finished cell, a run killed (SIGKILL) in the middle of a cell and run again, which redoes only
that cell and writes the same results.jsonl byte for byte, and bad grid files."""
import os
import signal
import subprocess
import xml.etree.ElementTree as ET

from clitest import (EXIT_BAD_INPUT, EXIT_USAGE, check, environment, error, example_data, main, ok,
                     read_jsonl, spdf_path, write)

# 1 size, 2 sparsities, 1 task: 2 pre-trainings and 3 fine-tunings of a few steps each.
TINY_GRID = """# the tiny grid of tests/cli/test_experiment.py
sizes = ["1x32x2"]
sparsities = [0, 0.75,]   # a trailing comma is allowed
tasks = "e2e"             # a single value for a list
seeds = [3]
vocab = 300
pretrain-tokens = 10240   # 20 steps of 8 x 64
pretrain-batch = 8
pretrain-context = 64
pretrain-warmup = 2
finetune-steps = 12
finetune-batch = 4
finetune-warmup = 2
eval-items = 4
max-new = 16
"""

CELLS = ["pretrain-1x32x2-sp0-seed3", "finetune-1x32x2-sp0-seed3-e2e-dense",
         "pretrain-1x32x2-sp0.75-seed3", "finetune-1x32x2-sp0.75-seed3-e2e-dense",
         "finetune-1x32x2-sp0.75-seed3-e2e-sparse"]


def experiment(grid, out):
    return ["experiment", grid, "--out", out, "--threads", "2", "--data-dir", example_data()]


def cell_stats(out):
    """(inode, mtime in ns) of every cell file, by cell."""
    stats = {}
    for name in os.listdir(os.path.join(out, "cells")):
        if name.endswith(".toml"):
            st = os.stat(os.path.join(out, "cells", name))
            stats[name[:-len(".toml")]] = (st.st_ino, st.st_mtime_ns)
    return stats


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_outputs(out):
    for name in ["results.jsonl", "timings.jsonl", "results.md", "bleu.svg", "gap.svg", "pretrain.svg",
                 "grid.toml", "tokenizer.bin"]:
        check(os.path.isfile(os.path.join(out, name)), "%s was not written" % name)
    results = read_jsonl(os.path.join(out, "results.jsonl"))
    check([r["cell"] for r in results] == CELLS, "results.jsonl: cells %r, expected %r in grid order"
          % ([r["cell"] for r in results], CELLS))
    for r in results:
        check(not any("second" in key for key in r), "results.jsonl holds a timing: %r" % r)
        check(r["layers"] == 1 and r["width"] == 32 and r["heads"] == 2 and r["seed"] == 3, "shape: %r" % r)
        check(r["flops"] > 0 and r["train_loss"] > 0, "flops and loss: %r" % r)
    dense, sparse = results[0], results[2]
    check(dense["kind"] == "pretrain" and dense["sparsity"] == 0 and sparse["sparsity"] == 0.75, "pretrain cells")
    check(dense["tokens"] == sparse["tokens"] == 20 * 8 * 64 and dense["steps"] == 20, "token budget: %r" % dense)
    check(sparse["flops"] < dense["flops"], "75 %% sparse pre-training should take fewer FLOPs: %r vs %r"
          % (sparse["flops"], dense["flops"]))
    check(0 < dense["val_loss"] < 10 and 0 < sparse["val_loss"] < 10, "validation losses out of range")
    finetunes = [r for r in results if r["kind"] == "finetune"]
    check([r["variant"] for r in finetunes] == ["baseline", "spdf", "sparse"], "variants: %r" % finetunes)
    for r in finetunes:
        check(0 <= r["bleu"] <= 1, "BLEU out of [0, 1]: %r" % r)
        check(r["nist"] >= 0 and r["items"] == 4 and r["steps"] == 12 and r["task"] == "e2e", "fine-tune: %r" % r)
        check(0 < r["heldout_loss"] < 10, "held-out loss out of range: %r" % r)
    check(finetunes[2]["flops"] < finetunes[1]["flops"], "sparse fine-tuning should take fewer FLOPs")
    check(finetunes[0]["pretrain"] == CELLS[0] and finetunes[1]["pretrain"] == CELLS[2], "pretrain links")
    timings = read_jsonl(os.path.join(out, "timings.jsonl"))
    check([t["cell"] for t in timings] == CELLS, "timings.jsonl cells")
    check(all(t["seconds"] >= t["train_seconds"] >= 0 and t["decode_seconds"] >= 0 for t in timings),
          "timings out of range: %r" % timings)
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        md = f.read()
    for text in ["5 of 5 cells done", "## Pre-training", "### e2e", "dense (SPDF)", "## Gap to dense", "bleu.svg",
                 "10240 tokens for every size"]:
        check(text in md, "results.md lacks %r" % text)
    for name in ["bleu.svg", "gap.svg", "pretrain.svg"]:
        root = ET.parse(os.path.join(out, name)).getroot()
        check(root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) > 0,
              "%s has no curve" % name)
    check(sorted(cell_stats(out)) == sorted(CELLS), "cell files: %r" % sorted(cell_stats(out)))


def killed_mid_cell(grid, out):
    """Starts the grid and SIGKILLs it once the third cell (the sparse pre-training) is running."""
    process = subprocess.Popen([spdf_path()] + experiment(grid, out), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=environment())
    seen = []
    for raw in process.stdout:
        line = raw.decode("utf-8", "replace")
        seen.append(line)
        if line.startswith("[3/5] ") and line.rstrip().endswith("running"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=120)
    process.stdout.close()
    check(process.returncode == -signal.SIGKILL, "the run was not killed mid-cell (exit %r): %r"
          % (process.returncode, "".join(seen)[-500:]))


def test(workdir):
    grid = write(os.path.join(workdir, "tiny.toml"), TINY_GRID)
    full = os.path.join(workdir, "full")
    ok(experiment(grid, full), timeout=300)
    check_outputs(full)
    reference = read_bytes(os.path.join(full, "results.jsonl"))
    before = cell_stats(full)

    # everything done: a rerun skips every cell and writes the same results
    out = ok(experiment(grid, full), timeout=300)
    check(out.count("done before, skipped") == 5 and "running" not in out, "a finished grid ran again: %s" % out)
    check(cell_stats(full) == before, "a rerun rewrote cell files")
    check(read_bytes(os.path.join(full, "results.jsonl")) == reference, "a rerun changed results.jsonl")

    # killed in the middle of the third cell, then run again with the same command
    resumed = os.path.join(workdir, "resumed")
    killed_mid_cell(grid, resumed)
    finished = cell_stats(resumed)
    check(sorted(finished) == sorted(CELLS[:2]), "after the kill, finished cells %r" % sorted(finished))
    out = ok(experiment(grid, resumed), timeout=300)
    for i, cell in enumerate(CELLS):
        expected = "done before, skipped" if i < 2 else "running"
        check("[%d/5] %s: %s" % (i + 1, cell, expected) in out, "cell %s should be %r: %s" % (cell, expected, out))
    after = cell_stats(resumed)
    check(all(after[c] == finished[c] for c in finished), "the rerun redid a finished cell")
    check(read_bytes(os.path.join(resumed, "results.jsonl")) == reference,
          "results.jsonl of the resumed grid differs from the uninterrupted run's")
    check_outputs(resumed)

    # the same directory with another grid is refused
    other = write(os.path.join(workdir, "other.toml"), TINY_GRID.replace("eval-items = 4", "eval-items = 5"))
    error(experiment(other, full), EXIT_USAGE, "another grid")

    # bad grid files: one line naming FILE:LINE, exit 3
    bad_grids = [
        ("sizez = [\"1x32x2\"]\n", "bad.toml:1: unknown key 'sizez'; did you mean 'sizes'?"),
        ("sizes = [\"2x130x3\"]\n", "model size 2x130x3"),
        ("sizes = [\"2x128\"]\n", "bad.toml:1: 'sizes' must be a model size"),
        ("# comment\nsparsities = [0, 1.5]\n", "bad.toml:2: 'sparsities' must be a number in [0, 0.99]"),
        ("sparsities = [0, 0.5\n", "bad.toml:1: unterminated array"),
        ("sparsities = [0,, 0.5]\n", "bad.toml:1: 'sparsities' must be a well-formed array"),
        ("sparsities = []\n", "bad.toml:1: 'sparsities' must be a list of at least one value"),
        ("tasks = [\"e2e\", \"wmt\"]\n", "bad.toml:1: 'tasks' must be one of"),
        ("seeds = [1, 1]\n", "bad.toml:1: 'seeds' must be a list without repeated values"),
        ("finetune-steps = 0\n", "bad.toml:1: 'finetune-steps' must be an integer"),
        ("seeds = [1]\nseeds = [2]\n", "bad.toml:2: 'seeds' is set twice"),
        ("pretrain-tokens = 100\n", "pretrain-tokens 100 is less than one step"),
        ("[grid]\n", "bad.toml:1: expected 'name = value'"),
    ]
    for text, message in bad_grids:
        path = write(os.path.join(workdir, "bad.toml"), text)
        error(experiment(path, os.path.join(workdir, "never")), EXIT_BAD_INPUT, message)
    error(experiment(os.path.join(workdir, "missing.toml"), os.path.join(workdir, "never")), EXIT_BAD_INPUT,
          "missing.toml")
    check(not os.path.exists(os.path.join(workdir, "never")), "a bad grid created its output directory")
    error(["experiment", "--preset", "huge"], EXIT_USAGE, "--preset")
    error(["experiment", grid, grid], EXIT_USAGE)
    check("--preset" in ok(["experiment", "--help"]), "experiment --help")


if __name__ == "__main__":
    main(test)
