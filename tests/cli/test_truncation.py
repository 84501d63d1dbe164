"""spdf finetune with pairs that do not fit the context: a warning with the counts and the context
that would fit them; past 20 % truncated or 5 % dropped a refusal (exit 2) unless
--allow-truncation.  The expected counts are computed here from the E2E CSV itself: with the byte
tokenizer a pair is len(MR) + 1 + len(ref) + 1 tokens, truncated when longer than context + 1,
dropped when the MR and its newline alone fill context + 1 tokens."""
import csv
import os

from clitest import EXIT_USAGE, TINY_MODEL, check, error, example_data, main, ok, run, tiny_corpus


def pairs_of(task, items):
    """(MR bytes, reference bytes) of the first `items` distinct MRs, item by item."""
    by_mr = {}
    with open(task, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_mr.setdefault(row["mr"], []).append(row["ref"])
    chosen = list(by_mr.items())[:items]
    return [(len(mr.encode()), len(ref.encode())) for mr, refs in chosen for ref in refs]


def expected(pairs, context):
    cap = context + 1
    dropped = sum(1 for p, _ in pairs if p + 1 >= cap)
    truncated = sum(1 for p, r in pairs if p + 1 < cap and p + r + 2 > cap)
    needed = sorted(p + r + 1 for p, r in pairs)  # the context that holds the pair whole
    p99 = needed[-(-len(needed) * 99 // 100) - 1]
    return truncated, dropped, p99, needed[-1]


def test(workdir):
    corpus = tiny_corpus(workdir)
    model = os.path.join(workdir, "model.ckpt")
    ok(["pretrain", "--data", corpus, "--out", model, "--steps", "1"] + TINY_MODEL[:-6] + ["--max-seq-len", "320"])
    task = os.path.join(example_data(), "e2e", "devset.csv")
    pairs = pairs_of(task, 12)
    out = os.path.join(workdir, "tuned.ckpt")
    finetune = ["finetune", "--init", model, "--task", task, "--items", "12", "--out", out, "--steps", "1",
                "--batch", "2", "--warmup", "0"]

    for context in (160, 100):  # a third truncated; most prompts longer than the context
        truncated, dropped, p99, longest = expected(pairs, context)
        check(truncated > 0.2 * len(pairs) or dropped > 0.05 * len(pairs), "the case is past a limit")
        err = error(finetune + ["--context", str(context)], EXIT_USAGE, "--allow-truncation")
        check(("%d of %d pairs would be truncated" % (truncated, len(pairs))) in err and
              ("%d dropped" % dropped) in err, "the counts, %d truncated and %d dropped: %r" % (truncated, dropped, err))
        check(("--context %d fits 99 %%" % p99) in err and ("%d all" % longest) in err,
              "the contexts that fit, %d and %d: %r" % (p99, longest, err))
        check(not os.path.exists(out), "nothing trained")
        code, stdout, err = run(finetune + ["--context", str(context), "--allow-truncation"])
        check(code == 0 and "warning" in err and ("%d of %d pairs are truncated" % (truncated, len(pairs))) in err,
              "--allow-truncation trains, with the warning: %d %r" % (code, err))
        os.remove(out)

    truncated, dropped, p99, longest = expected(pairs, 256)
    check(0 < truncated <= 0.2 * len(pairs) and dropped == 0, "a case within the limits")
    code, stdout, err = run(finetune + ["--context", "256"])
    check(code == 0 and ("warning: at --context 256, %d of %d pairs are truncated and 0 dropped" %
                         (truncated, len(pairs))) in err, "within the limits a warning only: %d %r" % (code, err))
    code, stdout, err = run(finetune + ["--context", str(longest)])
    check(code == 0 and "warning" not in err, "no warning when every pair fits: %r" % err)
    small = ["pretrain", "--data", corpus, "--out", model, "--steps", "1"] + TINY_MODEL
    ok(small)  # 160 positions: the advice is a longer pre-training context
    err = error(finetune, EXIT_USAGE, "--max-seq-len %d" % expected(pairs, 160)[2])
    check("160 positions" in err, "the advice says why: %r" % err)


main(test)
