"""spdf pretrain and finetune under mpirun (docs/distributed.md): 2 ranks x 1 thread give, at every
step, the losses of one process fed the same global batch, dense, sparse and across the SPDF
transition; ranks started with different options stop at start-up; a killed rank ends the job
within a bounded time and the last checkpoint loads and resumes.  The second argument is "mpi"
when the tool was built with MPI; the test is skipped otherwise."""
import os
import shutil
import signal
import subprocess
import sys
import time

from clitest import (SKIP, TINY_MODEL, check, environment, example_data, main, ok, ok_json, read_jsonl,
                     spdf_path, tiny_corpus)

# The ranks' mean loss sums each shard's mean first, one process the whole batch: the same
# numbers in another order, so float rounding, which training carries forward from step to step.
LOSS_TOLERANCE = 2e-4

MPIRUN = ["mpirun", "-np", "2", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]


def mpi_env():
    env = environment()
    env["OMPI_MCA_btl"] = "self,vader"        # one machine: shared memory, no network probing
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"  # containers without ptrace rights
    # LeakSanitizer reports Open MPI's own allocations (in plugins unloaded by MPI_Finalize, so no
    # suppression can name them); the same code paths run leak-checked in one process elsewhere.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""), "detect_leaks=0"]))
    return env


def mpirun(args, timeout=600, ranks=None):
    command = list(ranks) if ranks else MPIRUN + [spdf_path()] + [str(a) for a in args]
    result = subprocess.run(command, capture_output=True, timeout=timeout, env=mpi_env())
    return result.returncode, result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace")


def losses(path):
    return [(r["step"], r["loss"]) for r in read_jsonl(path) if r["event"] == "step"]


def same_losses(single, distributed, what):
    a, b = losses(single), losses(distributed)
    check([s for s, _ in a] == [s for s, _ in b], "%s: steps %r and %r" % (what, a, b))
    for (step, x), (_, y) in zip(a, b):
        check(abs(x - y) <= LOSS_TOLERANCE * abs(x), "%s step %d: loss %.7f in one process, %.7f on 2 ranks" %
              (what, step, x, y))
    return max(abs(x - y) / abs(x) for (_, x), (_, y) in zip(a, b))


def test_same_losses(workdir, corpus):
    flags = TINY_MODEL + ["--steps", "8", "--threads", "1", "--eval-every", "0"]
    worst = {}
    for name, extra in (("dense", []), ("sparse", ["--sparsity", "0.75"])):
        single, multi = (os.path.join(workdir, "%s-%s" % (name, k)) for k in ("single", "mpi"))
        ok(["pretrain", "--data", corpus, "--out", single + ".ckpt", "--log", single + ".jsonl"] + flags + extra)
        code, out, err = mpirun(["pretrain", "--data", corpus, "--out", multi + ".ckpt", "--log", multi + ".jsonl"]
                                + flags + extra)
        check(code == 0, "mpirun pretrain %s: exit %d: %s" % (name, code, err[-2000:]))
        check("2 ranks" in out, "the run says it is distributed: %r" % out[-500:])
        worst[name] = same_losses(single + ".jsonl", multi + ".jsonl", name)
        check(ok_json(["info", multi + ".ckpt"])["step"] == 8, "rank 0 saved the checkpoint")
    # Fine-tuning the sparse model densely: the transition happens on both ranks at step 0.
    task = os.path.join(example_data(), "e2e", "devset.csv")
    ft = ["finetune", "--task", task, "--format", "e2e", "--items", "12", "--steps", "6", "--batch", "4",
          "--warmup", "2", "--dense", "--threads", "1", "--allow-truncation"]
    ok(ft + ["--init", os.path.join(workdir, "sparse-single.ckpt"), "--out", os.path.join(workdir, "ft-single.ckpt"),
             "--log", os.path.join(workdir, "ft-single.jsonl")])
    code, out, err = mpirun(ft + [
        "--init", os.path.join(workdir, "sparse-single.ckpt"), "--out", os.path.join(workdir, "ft-mpi.ckpt"),
        "--log", os.path.join(workdir, "ft-mpi.jsonl")])
    check(code == 0, "mpirun finetune: exit %d: %s" % (code, err[-2000:]))
    worst["transition"] = same_losses(os.path.join(workdir, "ft-single.jsonl"), os.path.join(workdir, "ft-mpi.jsonl"),
                                      "fine-tuning across the transition")
    print("largest relative loss difference, 2 ranks against one process: %s" %
          ", ".join("%s %.2e" % kv for kv in worst.items()))


def test_disagreeing_ranks(workdir, corpus):
    base = [spdf_path(), "pretrain", "--data", corpus, "--steps", "4", "--threads", "1"] + TINY_MODEL
    out = os.path.join(workdir, "bad.ckpt")
    ranks = (MPIRUN[:1] + ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "1"]
             + base + ["--out", out] + [":", "-np", "1"] + base + ["--out", out, "--seed", "7"])
    started = time.monotonic()
    code, _, err = mpirun(None, timeout=120, ranks=ranks)
    check(code != 0, "ranks with different seeds must not train")
    check("disagree" in err, "the error names the disagreement: %r" % err[-1000:])
    check(not os.path.exists(out), "nothing was saved")
    print("ranks with different options stopped after %.1f s" % (time.monotonic() - started))


def rank_pids(marker):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode(errors="replace")) == "spdf" and marker.encode() in argv:
            pids.append(int(entry))
    return pids


def test_killed_rank(workdir, corpus):
    ckpt = os.path.join(workdir, "fault.ckpt")
    args = (MPIRUN + [spdf_path(), "pretrain", "--data", corpus, "--out", ckpt, "--steps", "100000",
                      "--save-every", "2", "--threads", "1", "--eval-every", "0"] + TINY_MODEL)
    job = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=mpi_env())
    deadline = time.monotonic() + 120
    while not os.path.exists(ckpt) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    check(os.path.exists(ckpt), "the job saved a checkpoint before the kill")
    pids = rank_pids(ckpt)
    check(len(pids) == 2, "found the two ranks: %r" % pids)
    killed = time.monotonic()
    os.kill(max(pids), signal.SIGKILL)
    try:
        code = job.wait(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        raise
    err = job.stderr.read().decode("utf-8", "replace")
    check(code != 0, "the job exits non-zero when a rank dies")
    print("a killed rank ended the job in %.1f s (mpirun: %s)" %
          (time.monotonic() - killed, " ".join(err.split())[:160]))
    step = ok_json(["info", ckpt])["step"]
    code, _, err = mpirun(["pretrain", "--data", corpus, "--out", ckpt, "--resume", ckpt, "--stop-at", str(step + 2),
                           "--threads", "1"])
    check(code == 0, "resuming after the fault: exit %d: %s" % (code, err[-1000:]))
    check(ok_json(["info", ckpt])["step"] == step + 2, "the resumed run went on from step %d" % step)


def test(workdir):
    if len(sys.argv) < 3 or sys.argv[2] != "mpi" or not shutil.which("mpirun"):
        print("SKIP: spdf was built without MPI, or mpirun is missing")
        return SKIP
    corpus = tiny_corpus(workdir)
    test_same_losses(workdir, corpus)
    test_disagreeing_ranks(workdir, corpus)
    test_killed_rank(workdir, corpus)


main(test)
