"""spdf pretrain --resume: the settings of the run come from the checkpoint and CKPT.run.toml
beside it, so a resumed run needs none of the original options and logs exactly what the
uninterrupted run logs (validation included); options that differ from the run's are refused,
naming each; a finished run says so."""
import os
import shutil

from clitest import (EXIT_BAD_INPUT, EXIT_USAGE, check, error, main, ok, ok_json, read_jsonl, run, tiny_corpus)

# Everything unlike the defaults, so that a resumed run falling back to a default shows.
RUN = ["--layers", "2", "--heads", "2", "--width", "32", "--context", "24", "--max-seq-len", "48",
       "--batch", "3", "--seed", "7", "--steps", "16", "--lr", "2e-3", "--warmup", "4", "--min-lr-ratio", "0.2",
       "--weight-decay", "0.05", "--grad-clip", "0.5", "--sparsity", "0.5", "--val-fraction", "0.2",
       "--eval-every", "5", "--eval-batches", "3", "--dropout", "0.1"]


def records(path):
    """Every training step and evaluation of a log, without timings."""
    return [(r["event"], r["step"], r.get("loss"), r.get("lr"), r.get("grad_norm"), r.get("val_loss"))
            for r in read_jsonl(path) if r["event"] in ("step", "eval")]


def test_settings_come_from_the_run(workdir, corpus):
    full, full_log = os.path.join(workdir, "full.ckpt"), os.path.join(workdir, "full.jsonl")
    ok(["pretrain", "--data", corpus, "--out", full, "--log", full_log] + RUN)
    part, part_log = os.path.join(workdir, "part.ckpt"), os.path.join(workdir, "part.jsonl")
    ok(["pretrain", "--data", corpus, "--out", part, "--log", part_log, "--stop-at", "7"] + RUN)
    check(os.path.exists(part + ".run.toml"), "the run settings file is written beside the checkpoint")
    out = ok(["pretrain", "--data", corpus, "--out", part, "--log", part_log, "--resume", part])
    check("7 to 16" in out, "resumed from step 7 to the end of the run's schedule: %r" % out)
    check(records(part_log) == records(full_log),
          "a run resumed without its options differs from the uninterrupted one")
    check(len([r for r in records(full_log) if r[0] == "eval"]) == 4, "evaluations at 5, 10, 15 and the end")
    with open(full, "rb") as a, open(part, "rb") as b:
        check(a.read() == b.read(), "the final checkpoints differ")
    # the dropout masks went on from the checkpoint: without dropout every loss after the first
    # step's is another (the first step's dropped pass differs too)
    plain_log = os.path.join(workdir, "plain.jsonl")
    plain = [a for a in RUN if a not in ("--dropout", "0.1")]
    ok(["pretrain", "--data", corpus, "--out", os.path.join(workdir, "plain.ckpt"), "--log", plain_log] + plain)
    dropped = [r for r in records(full_log) if r[0] == "step"]
    undropped = [r for r in records(plain_log) if r[0] == "step"]
    check(all(a[2] != b[2] for a, b in zip(dropped, undropped)), "--dropout 0.1 changed no loss")
    return full, part


def test_conflicts(workdir, corpus, part):
    """A given option that differs from the run is refused, naming it and the run's value; the
    same value is accepted."""
    resume = ["pretrain", "--data", corpus, "--out", part, "--resume", part]
    for option, value, run_value in (("--lr", "0.005", "0.002"), ("--warmup", "9", "4"), ("--layers", "3", "2"),
                                     ("--width", "64", "32"), ("--heads", "4", "2"), ("--vocab", "300", "257"),
                                     ("--context", "32", "24"), ("--batch", "4", "3"), ("--seed", "8", "7"),
                                     ("--steps", "30", "16"), ("--sparsity", "0.75", "0.5"),
                                     ("--mask", "erk", "random"), ("--eval-every", "6", "5"),
                                     ("--eval-batches", "2", "3"), ("--val-fraction", "0.1", "0.2"),
                                     ("--min-lr-ratio", "0.1", "0.2"), ("--grad-clip", "1", "0.5"),
                                     ("--dropout", "0.2", "0.1")):
        err = error(resume + [option, value], EXIT_USAGE, "%s %s (the run: %s)" % (option, value, run_value))
        check(part in err, "the message names the checkpoint: %r" % err)
    err = error(resume + ["--lr", "0.005", "--layers", "3", "--eval-every", "6"], EXIT_USAGE)
    check("--lr" in err and "--layers" in err and "--eval-every" in err, "every conflict is named: %r" % err)
    # the run is finished: options equal to the run's are accepted, and nothing is trained
    out = ok(resume + ["--lr", "2e-3", "--layers", "2", "--batch", "3", "--eval-every", "5", "--save-every", "4"])
    check("already finished at step 16" in out, "a finished run says so: %r" % out)
    check("tokens/s" not in out and "0 steps" not in out, "a finished run trains nothing: %r" % out)
    check(ok_json(["info", part])["step"] == 16, "the checkpoint stays as it was")
    stop = ["pretrain", "--data", corpus, "--out", part, "--resume", part, "--stop-at", "3"]
    check("nothing to do" in ok(stop), "a resume past --stop-at says so")


def test_settings_file(workdir, corpus, full, part):
    """Without a settings file (a checkpoint of an earlier version) the options are used, with a
    warning; a settings file of another run is refused."""
    stopped = os.path.join(workdir, "stopped.ckpt")
    ok(["pretrain", "--data", corpus, "--out", stopped, "--stop-at", "4"] + RUN)
    os.remove(stopped + ".run.toml")
    code, out, err = run(["pretrain", "--data", corpus, "--out", stopped, "--resume", stopped, "--stop-at", "6"] +
                         RUN)
    check(code == 0 and "warning" in err and "run.toml" in err, "resuming without the file warns: %d %r" % (code, err))
    check(ok_json(["info", stopped])["step"] == 6, "and continues")
    run_without_lr = [a for i, a in enumerate(RUN) if "--lr" not in RUN[i - 1:i + 1]]
    error(["pretrain", "--data", corpus, "--out", stopped, "--resume", stopped, "--lr", "0.003"] + run_without_lr,
          EXIT_USAGE, "--lr 0.003 (the run: 0.002)")

    other = os.path.join(workdir, "other.ckpt")
    ok(["pretrain", "--data", corpus, "--out", other, "--stop-at", "2"] + RUN)
    shutil.copy(part + ".run.toml", other + ".run.toml")
    with open(other + ".run.toml", encoding="utf-8") as f:
        text = f.read()
    with open(other + ".run.toml", "w", encoding="utf-8") as f:
        f.write(text.replace("layers = 2", "layers = 3"))
    error(["pretrain", "--data", corpus, "--out", other, "--resume", other], EXIT_BAD_INPUT, "does not belong")
    with open(other + ".run.toml", "w", encoding="utf-8") as f:
        f.write(text.replace("eval-every = 5", "eval-every = five"))
    error(["pretrain", "--data", corpus, "--out", other, "--resume", other], EXIT_BAD_INPUT, "eval-every")


def test_keep_last(workdir, corpus, full):
    """--keep-last 2 with --save-every 3: the saves at 3, 6, 9 and the end (16) are numbered, the
    two newest stay, and each holds its step; a numbered checkpoint resumes (with its options)."""
    out = os.path.join(workdir, "kept.ckpt")
    ok(["pretrain", "--data", corpus, "--out", out, "--save-every", "3", "--keep-last", "2"] + RUN)
    names = sorted(n for n in os.listdir(workdir) if n.startswith("kept.ckpt.step-"))
    check(names == ["kept.ckpt.step-000000015", "kept.ckpt.step-000000016"], "numbered checkpoints: %r" % names)
    check(ok_json(["info", os.path.join(workdir, names[0])])["step"] == 15, "the numbered file holds its step")
    with open(out, "rb") as a, open(full, "rb") as b:
        check(a.read() == b.read(), "--keep-last changed the run")
    old = os.path.join(workdir, names[0])
    code, text, err = run(["pretrain", "--data", corpus, "--out", old, "--resume", old] + RUN)
    check(code == 0 and "15 to 16" in text, "a numbered checkpoint resumes: %d %r %r" % (code, text, err))


def test(workdir):
    corpus = tiny_corpus(workdir)
    full, part = test_settings_come_from_the_run(workdir, corpus)
    test_conflicts(workdir, corpus, part)
    test_settings_file(workdir, corpus, full, part)
    test_keep_last(workdir, corpus, full)


main(test)
