"""--grad-accum K splits every batch into K micro-batches whose gradients the loop weights and adds
up: the step is that of the whole batch, so pre-training and fine-tuning log the losses of the
unsplit run (up to float rounding: the same sums in another order).  A batch that does not split
is a usage error."""
import os

from clitest import TINY_MODEL, check, error, example_data, main, ok, read_jsonl, tiny_corpus

# Summation order only: measured differences are around 1e-7 relative.
LOSS_TOLERANCE = 2e-4


def losses(path):
    return [(r["step"], r["loss"]) for r in read_jsonl(path) if r["event"] == "step"]


def same_losses(whole, split, what):
    a, b = losses(whole), losses(split)
    check(len(a) > 0 and [s for s, _ in a] == [s for s, _ in b], "%s: steps %r and %r" % (what, a, b))
    worst = 0.0
    for (step, x), (_, y) in zip(a, b):
        check(abs(x - y) <= LOSS_TOLERANCE * abs(x), "%s step %d: loss %.7f whole, %.7f in micro-batches" %
              (what, step, x, y))
        worst = max(worst, abs(x - y) / abs(x))
    return worst


def test(workdir):
    corpus = tiny_corpus(workdir)
    flags = TINY_MODEL + ["--steps", "6", "--threads", "1", "--eval-every", "0"]
    path = lambda name: os.path.join(workdir, name)
    worst = {}
    for name, extra in (("dense", []), ("sparse", ["--sparsity", "0.75"])):
        for k in ("1", "2"):
            ok(["pretrain", "--data", corpus, "--out", path("%s-%s.ckpt" % (name, k)), "--log",
                path("%s-%s.jsonl" % (name, k)), "--grad-accum", k] + flags + extra)
        worst[name] = same_losses(path(name + "-1.jsonl"), path(name + "-2.jsonl"), name)
    # Fine-tuning: micro-batches of different loss weights (reference lengths) are weighted by them.
    task = os.path.join(example_data(), "e2e", "devset.csv")
    ft = ["finetune", "--task", task, "--format", "e2e", "--items", "12", "--steps", "5", "--batch", "4",
          "--warmup", "2", "--threads", "1", "--allow-truncation", "--init", path("sparse-1.ckpt")]
    for k in ("1", "4"):
        ok(ft + ["--grad-accum", k, "--out", path("ft-%s.ckpt" % k), "--log", path("ft-%s.jsonl" % k)])
    worst["fine-tuning"] = same_losses(path("ft-1.jsonl"), path("ft-4.jsonl"), "fine-tuning")
    print("largest relative loss difference, micro-batches against whole batches: %s" %
          ", ".join("%s %.2e" % kv for kv in worst.items()))
    error(["pretrain", "--data", corpus, "--out", path("bad.ckpt"), "--grad-accum", "3"] + flags, 2,
          "does not split")


main(test)
