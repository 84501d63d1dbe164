"""Progress when stderr is not a terminal (a pipe, nohup, CI): spdf pretrain and spdf finetune
print a plain line (step, loss, tokens/s, ETA) at every tenth of the run and at least every
--progress-every seconds (0: every step), where they used to print nothing until the end."""
import os
import re

from clitest import TINY_MODEL, check, example_data, main, ok, run, tiny_corpus

LINE = re.compile(r"^(pretrain|finetune)  step (\d+)/(\d+)  loss [0-9.]+  lr \S+  \d+ tok/s  \S+ elapsed  ETA \S+$")


def progress_steps(args):
    """Runs spdf with stderr on a pipe; returns the steps of its progress lines, in order."""
    code, out, err = run(args)
    check(code == 0, "spdf %s: exit %d (%r)" % (" ".join(map(str, args)), code, err))
    steps = []
    for line in err.splitlines():
        match = LINE.match(line)
        if match:
            steps.append(int(match.group(2)))
        else:
            check("warning" in line, "an unexpected line on stderr: %r" % line)
    return steps


def test(workdir):
    corpus = tiny_corpus(workdir)
    ckpt = os.path.join(workdir, "p.ckpt")
    pretrain = ["pretrain", "--data", corpus, "--out", ckpt, "--steps", "20", "--eval-every", "0"] + TINY_MODEL
    steps = progress_steps(pretrain)
    check(steps == list(range(2, 21, 2)), "a line at every tenth of 20 steps: %r" % steps)
    steps = progress_steps(pretrain + ["--progress-every", "0"])
    check(steps == list(range(1, 21)), "--progress-every 0: a line every step: %r" % steps)

    ok(["pretrain", "--data", corpus, "--out", ckpt, "--steps", "20", "--eval-every", "0", "--stop-at", "10"] +
       TINY_MODEL)
    steps = progress_steps(["pretrain", "--data", corpus, "--out", ckpt, "--resume", ckpt])
    check(steps and steps[-1] == 20 and all(10 < s <= 20 for s in steps) and len(steps) <= 10,
          "a resumed run reports its own tenths: %r" % steps)

    task = os.path.join(example_data(), "e2e", "devset.csv")
    tuned = os.path.join(workdir, "f.ckpt")
    steps = progress_steps(["finetune", "--init", ckpt, "--task", task, "--items", "3", "--out", tuned,
                            "--steps", "10", "--batch", "2", "--warmup", "1", "--allow-truncation"])
    check(steps == list(range(1, 11)), "finetune: a line at every tenth of 10 steps: %r" % steps)


main(test)
