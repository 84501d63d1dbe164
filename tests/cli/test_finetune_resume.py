"""spdf finetune like a trainer: validation loss and BLEU every N steps on held-out pairs, the best
model kept, early stopping, and --resume continuing bit for bit, after a planned stop (--stop-at),
after SIGTERM and after SIGKILL (from the last --save-every checkpoint), with dropout on, so that
the data order, the dropout masks, the optimizer and the best-so-far all have to come back."""
import json
import os
import signal
import subprocess
import time

from clitest import (EXIT_USAGE, check, environment, error, example_data, main, ok, ok_json, read_jsonl, spdf_path,
                     tiny_corpus)

E2E = os.path.join(example_data(), "e2e")
TASK = ["--task", os.path.join(E2E, "devset.csv"), "--val-task", os.path.join(E2E, "testset_w_refs.csv")]
RUN = ["--items", "40", "--val-items", "10", "--bleu-items", "3", "--bleu-max-new", "16", "--eval-every", "4",
       "--steps", "24", "--batch", "2", "--warmup", "2", "--allow-truncation", "--dropout", "0.1", "--seed", "5"]


def changed(args, **values):
    """args with the values of some options replaced (--steps 24 -> steps="400")."""
    out = list(args)
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if flag in out:
            out[out.index(flag) + 1] = value
        else:
            out += [flag, value]
    return out


def records(path):
    """Steps and evaluations of a log without timings; for a run killed without saving, the
    records of a step logged twice (before the kill and again after the resume) count once."""
    seen = {}
    for r in read_jsonl(path):
        if r["event"] in ("step", "eval"):
            seen[(r["event"], r["step"])] = (r.get("loss"), r.get("lr"), r.get("grad_norm"), r.get("val_loss"),
                                             r.get("bleu"))
    return sorted(seen.items())


def same_bytes(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        return x.read() == y.read()


def finetune(workdir, name, init, *extra):
    out = os.path.join(workdir, name + ".ckpt")
    log = os.path.join(workdir, name + ".jsonl")
    best = os.path.join(workdir, name + ".best.ckpt")
    text = ok(["finetune", "--init", init, "--out", out, "--log", log, "--best", best] + TASK + RUN + list(extra))
    return out, log, best, text


def resume(out, log, best, *extra):
    return ok(["finetune", "--resume", out, "--out", out, "--log", log, "--best", best] + TASK + list(extra))


def test_validation(full, log, best, text):
    evals = [r for r in read_jsonl(log) if r["event"] == "eval"]
    check([r["step"] for r in evals] == [4, 8, 12, 16, 20, 24], "evaluations every 4 steps: %r" % evals)
    check(all(0 <= r["bleu"] <= 1 and r["val_loss"] > 0 for r in evals), "loss and BLEU in range: %r" % evals)
    best_eval = min(evals, key=lambda r: r["val_loss"])
    check(ok_json(["info", best])["step"] == best_eval["step"], "--best holds the model of the lowest loss")
    check("best validation loss %.4f at step %d" % (best_eval["val_loss"], best_eval["step"]) in text,
          "the summary names the best evaluation: %r" % text)
    # the validation loss and BLEU are those of the model without dropout: `spdf eval` agrees
    task = os.path.join(E2E, "testset_w_refs.csv")
    loss = ok_json(["eval", "--model", best, "--task", task, "--items", "10", "--max-new", "16"])
    check(abs(loss["reference_loss"] - best_eval["val_loss"]) <= 1e-5 * best_eval["val_loss"],
          "validation loss %r, spdf eval %r" % (best_eval["val_loss"], loss["reference_loss"]))
    bleu = ok_json(["eval", "--model", best, "--task", task, "--items", "3", "--max-new", "16"])
    check(bleu["bleu"] == best_eval["bleu"], "validation BLEU %r, spdf eval %r" % (best_eval["bleu"], bleu["bleu"]))


def test_planned_stop(workdir, init, full, log, best):
    out, part_log, part_best, text = finetune(workdir, "part", init, "--stop-at", "10")
    check("stopped at step 10 as asked" in text, "a planned stop says so: %r" % text)
    text = resume(out, part_log, part_best)
    check("resuming the fine-tuning run" in text and "(10 to 24)" in text, "resumed at step 10: %r" % text)
    check(records(part_log) == records(log), "a fine-tuning run stopped and resumed logs other losses")
    check(same_bytes(out, full), "the resumed run's checkpoint differs from the uninterrupted one's")
    check(same_bytes(part_best, best), "the resumed run's best checkpoint differs")
    check("already finished at step 24" in resume(out, part_log, part_best), "a finished run says so")
    return out


def killed_run(workdir, init, sig, name):
    """A run started and stopped with sig once its log shows 60 steps, then resumed.  (Every save
    is synced to disk, so saves and evaluations are kept few.)"""
    out, log, best = (os.path.join(workdir, name + s) for s in (".ckpt", ".jsonl", ".best.ckpt"))
    long_run = changed(RUN, steps="200", eval_every="40")
    args = ["finetune", "--init", init, "--out", out, "--log", log, "--best", best, "--save-every", "25"] + TASK + \
        long_run
    proc = subprocess.Popen([spdf_path()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment())
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if os.path.exists(log) and sum(1 for r in read_jsonl(log) if r["event"] == "step") >= 60:
            break
        time.sleep(0.005)
    proc.send_signal(sig)
    proc.communicate(timeout=300)
    check(proc.returncode in (130, -signal.SIGKILL), "%s: the run ended with %d, not by the signal" %
          (name, proc.returncode))
    done = ok_json(["info", out])["step"]
    check(0 < done < 200, "%s: the checkpoint is at step %d" % (name, done))
    if sig == signal.SIGKILL:
        check(done % 25 == 0, "after SIGKILL the checkpoint is the last --save-every one: step %d" % done)
    resume(out, log, best)
    return out, log, best


def test_kills(workdir, init):
    reference = os.path.join(workdir, "reference")
    ok(["finetune", "--init", init, "--out", reference + ".ckpt", "--log", reference + ".jsonl", "--best",
        reference + ".best.ckpt"] + TASK + changed(RUN, steps="200", eval_every="40"))
    for sig, name in ((signal.SIGTERM, "term"), (signal.SIGKILL, "kill")):
        out, log, best = killed_run(workdir, init, sig, name)
        check(records(log) == records(reference + ".jsonl"), "%s: the resumed run logs other losses" % name)
        check(same_bytes(out, reference + ".ckpt"), "%s: the final checkpoints differ" % name)
        check(same_bytes(best, reference + ".best.ckpt"), "%s: the best checkpoints differ" % name)


def test_early_stop(workdir, init):
    """A learning rate far too high: the validation loss stops improving, and the run stops after
    --early-stop evaluations without a better one; resumed, it says so and trains nothing."""
    out, log, best = (os.path.join(workdir, "early" + s) for s in (".ckpt", ".jsonl", ".best.ckpt"))
    args = ["finetune", "--init", init, "--out", out, "--log", log, "--best", best] + TASK + \
        changed(RUN, eval_every="4", early_stop="2", lr="0.3", steps="200", warmup="0")
    text = ok(args)
    evals = [r for r in read_jsonl(log) if r["event"] == "eval"]
    losses = [r["val_loss"] for r in evals]
    best_at = losses.index(min(losses))
    check("stopped early" in text and len(evals) == best_at + 3,
          "two evaluations after the best one (%d of %d) end the run: %r" % (best_at, len(evals), text))
    steps = ok_json(["info", out])["step"]
    check(steps == evals[-1]["step"] < 200, "the run ended at its last evaluation, step %d" % steps)
    check(ok_json(["info", best])["step"] == evals[best_at]["step"], "--best is the best evaluation's model")
    check("already stopped early" in resume(out, log, best), "an early-stopped run says so when resumed")


def test_bad_use(workdir, init, finished, pretrained):
    log = os.path.join(workdir, "part.jsonl")
    best = os.path.join(workdir, "part.best.ckpt")
    resume_args = ["finetune", "--resume", finished, "--out", finished, "--log", log, "--best", best] + TASK
    err = error(resume_args + ["--lr", "0.01", "--eval-every", "5"], EXIT_USAGE, "--lr 0.01 (the run: 0.0005)")
    check("--eval-every 5 (the run: 4)" in err, "every conflicting option is named: %r" % err)
    error(resume_args + ["--init", init], EXIT_USAGE, "exclude each other")
    error(["finetune", "--resume", pretrained, "--out", finished] + TASK, EXIT_USAGE, "pre-training checkpoint")
    error(["finetune", "--out", finished] + TASK, EXIT_USAGE, "--init")
    error(["finetune", "--init", init, "--out", os.path.join(workdir, "x.ckpt"), "--eval-every", "4",
           "--task", TASK[1]], EXIT_USAGE, "--val-task")
    error(["finetune", "--init", init, "--out", os.path.join(workdir, "x.ckpt"), "--early-stop", "2"] + TASK,
          EXIT_USAGE, "--eval-every")
    error(["finetune", "--init", init, "--out", finished, "--best", finished] + TASK, EXIT_USAGE, "another path")


def test(workdir):
    pretrained = os.path.join(workdir, "pre.ckpt")
    ok(["pretrain", "--data", tiny_corpus(workdir), "--out", pretrained, "--layers", "2", "--heads", "2",
        "--width", "32", "--context", "32", "--batch", "4", "--max-seq-len", "160", "--steps", "20",
        "--sparsity", "0.5"])
    full, log, best, text = finetune(workdir, "full", pretrained)
    test_validation(full, log, best, text)
    finished = test_planned_stop(workdir, pretrained, full, log, best)
    test_kills(workdir, pretrained)
    test_early_stop(workdir, pretrained)
    test_bad_use(workdir, pretrained, finished, pretrained)
    with open(log) as f:
        check(all("event" in json.loads(line) for line in f), "the log is JSON Lines")


if __name__ == "__main__":
    main(test)
