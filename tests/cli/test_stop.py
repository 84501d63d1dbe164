"""Stopping spdf pretrain and spdf finetune with SIGTERM or SIGINT: however often the signal
arrives, the last completed step is saved (a checkpoint `spdf info` reads) and the exit status is
130.  `timeout` and process-group kills deliver the signal twice within a millisecond; that is one
request.  A third signal ends the run at once, but only when a checkpoint of the run is on disk
and no save is under way."""
import os
import random
import signal
import subprocess
import time

from clitest import (EXIT_INTERRUPTED, TINY_MODEL, check, environment, example_data, main, ok, ok_json,
                     read_jsonl, spdf_path, tiny_corpus)

LONG_RUN = ["--steps", "100000", "--eval-every", "0"]


def catches(pid, sig):
    """Whether process pid has a handler for sig (the SigCgt mask of /proc/PID/status)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    except FileNotFoundError:
        pass
    return False


def start(args):
    """Starts spdf and returns once it handles SIGTERM (the command has begun)."""
    proc = subprocess.Popen([spdf_path()] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environment())
    deadline = time.time() + 120
    while proc.poll() is None and not catches(proc.pid, signal.SIGTERM) and time.time() < deadline:
        time.sleep(0.0005)
    check(proc.poll() is None, "spdf %s ended before it could be stopped" % " ".join(map(str, args)))
    return proc


def wait_for_steps(proc, log, steps):
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if os.path.exists(log) and sum(1 for r in read_jsonl(log) if r["event"] == "step") >= steps:
            return
        time.sleep(0.01)


def send(proc, count, gap=0.001, sig=signal.SIGTERM):
    for i in range(count):
        if i:
            time.sleep(gap)
        proc.send_signal(sig)  # nothing once the process has ended


def finish(proc, what):
    out, err = proc.communicate(timeout=300)
    err = err.decode("utf-8", "replace")
    check(proc.returncode == EXIT_INTERRUPTED, "%s: exit %d, expected 130 (stderr %r)" % (what, proc.returncode, err))
    return err


def logged_steps(log):
    if not os.path.exists(log):
        return []
    return [r["step"] for r in read_jsonl(log) if r["event"] == "step"]


def check_saved_last_step(ckpt, log, err, what):
    """The checkpoint holds the last completed (logged) step, and the message says which."""
    info = ok_json(["info", ckpt])
    steps = logged_steps(log)
    last = steps[-1] if steps else 0
    check(info["step"] == last, "%s: saved step %d, but the log reached step %d" % (what, info["step"], last))
    check(("step %d" % last) in err and "saved" in err, "%s: the message names the step: %r" % (what, err))
    return last


def test_double_signal(workdir, corpus):
    """SIGTERM twice, 1 ms apart, after a few steps (three runs): the old handler died at the second."""
    for run in range(3):
        ckpt, log = os.path.join(workdir, "double%d.ckpt" % run), os.path.join(workdir, "double%d.jsonl" % run)
        proc = start(["pretrain", "--data", corpus, "--out", ckpt, "--log", log] + TINY_MODEL + LONG_RUN)
        wait_for_steps(proc, log, 3)
        send(proc, 2)
        err = finish(proc, "double SIGTERM, run %d" % run)
        check(err.count("\n") == 1 and "interrupted at step" in err, "one line on stderr: %r" % err)
        check(check_saved_last_step(ckpt, log, err, "double SIGTERM") >= 3, "stopped after the third step")


def test_random_points(workdir, corpus):
    """Ten `timeout`-style double signals at random points: while loading the data, creating the
    model, training, and (with --save-every 1) saving."""
    rng = random.Random(16)
    for run in range(10):
        ckpt, log = os.path.join(workdir, "random%d.ckpt" % run), os.path.join(workdir, "random%d.jsonl" % run)
        extra = ["--save-every", "1"] if run % 2 else []
        delay = rng.uniform(0, 0.6)
        proc = start(["pretrain", "--data", corpus, "--out", ckpt, "--log", log] + TINY_MODEL + LONG_RUN + extra)
        time.sleep(delay)
        send(proc, 2, sig=signal.SIGINT if run % 3 == 0 else signal.SIGTERM)
        what = "run %d, double signal after %.3f s" % (run, delay)
        check_saved_last_step(ckpt, log, finish(proc, what), what)


def test_third_signal(workdir, corpus):
    """A third signal ends the run at once when a checkpoint of it is on disk (--save-every 3) and
    no save is under way, and waits for the save when there is none yet: either way a checkpoint
    is there, and the message names the step it holds."""
    ckpt, log = os.path.join(workdir, "third.ckpt"), os.path.join(workdir, "third.jsonl")
    proc = start(["pretrain", "--data", corpus, "--out", ckpt, "--log", log] + TINY_MODEL + LONG_RUN)
    wait_for_steps(proc, log, 3)
    send(proc, 3)
    err = finish(proc, "three signals, nothing saved yet")
    check_saved_last_step(ckpt, log, err, "three signals, nothing saved yet")

    ckpt, log = os.path.join(workdir, "third-saved.ckpt"), os.path.join(workdir, "third-saved.jsonl")
    proc = start(["pretrain", "--data", corpus, "--out", ckpt, "--log", log, "--save-every", "3"] + TINY_MODEL +
                 LONG_RUN)
    wait_for_steps(proc, log, 4)
    send(proc, 3)
    err = finish(proc, "three signals after saves")
    info = ok_json(["info", ckpt])
    if "stopped at once" in err:
        check(("holds step %d" % info["step"]) in err, "the message names the step on disk: %r %r" % (err, info))
        check(info["step"] >= 3 and info["step"] % 3 == 0, "a checkpoint of --save-every: %r" % info)
    else:
        check_saved_last_step(ckpt, log, err, "three signals after saves")


def test_before_first_step(workdir, corpus):
    """A stop before the first step: pretrain saves the initial state (resumable), finetune trains
    nothing and writes nothing; both say so and exit 130."""
    ckpt = os.path.join(workdir, "early.ckpt")
    # timing every kernel candidate of the masked layers makes the setup long enough to be hit
    proc = start(["pretrain", "--data", corpus, "--out", ckpt, "--sparsity", "0.75", "--sparse-plan", "measure"] +
                 TINY_MODEL + LONG_RUN)
    send(proc, 2)
    err = finish(proc, "pretrain stopped before its first step")
    check("before the first step" in err and "step 0" in err, "pretrain says what it saved: %r" % err)
    check(ok_json(["info", ckpt])["step"] == 0, "the initial state is saved")
    ok(["pretrain", "--data", corpus, "--out", ckpt, "--resume", ckpt, "--stop-at", "2"])
    check(ok_json(["info", ckpt])["step"] == 2, "and resumes")

    model = os.path.join(workdir, "base.ckpt")
    ok(["pretrain", "--data", corpus, "--out", model, "--steps", "1"] + TINY_MODEL)
    tuned = os.path.join(workdir, "tuned.ckpt")
    task = os.path.join(example_data(), "e2e", "devset.csv")
    proc = start(["finetune", "--init", model, "--task", task, "--out", tuned, "--steps", "100000",
                  "--allow-truncation"])
    send(proc, 2)
    err = finish(proc, "finetune stopped before its first step")
    if "before the first step" in err:
        check(not os.path.exists(tuned), "finetune wrote %s without a step" % tuned)
        check("nothing was trained" in err, "finetune says so: %r" % err)
    else:  # the machine was fast enough to train a step first
        check(ok_json(["info", tuned])["step"] >= 1, "finetune saved its steps")


def test(workdir):
    corpus = tiny_corpus(workdir)
    test_double_signal(workdir, corpus)
    test_random_points(workdir, corpus)
    test_third_signal(workdir, corpus)
    test_before_first_step(workdir, corpus)


main(test)
