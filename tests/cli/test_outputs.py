"""Outputs are checked before the work: a checkpoint, log or hypotheses file that cannot be
written fails at once (exit 1, one line naming the path), before a single training step or
decoded item, instead of after the run."""
import os

from clitest import EXIT_RUNTIME, TINY_MODEL, check, error, example_data, main, ok, read_jsonl, tiny_corpus


def test(workdir):
    corpus = tiny_corpus(workdir)
    log = os.path.join(workdir, "run.jsonl")
    missing_dir = os.path.join(workdir, "no-such-dir")
    pretrain = ["pretrain", "--data", corpus, "--steps", "200", "--eval-every", "0"] + TINY_MODEL

    bad = os.path.join(missing_dir, "x.ckpt")
    err = error(pretrain + ["--out", bad, "--log", log], EXIT_RUNTIME, bad)
    check("does not exist" in err and missing_dir in err, "the message names the missing directory: %r" % err)
    check(not os.path.exists(log) or not [r for r in read_jsonl(log) if r["event"] == "step"],
          "pretrain trained before finding out that --out cannot be written")
    check(not os.path.exists(missing_dir), "nothing is created")

    not_a_dir = os.path.join(corpus, "x.ckpt")  # the corpus is a regular file
    error(pretrain + ["--out", not_a_dir], EXIT_RUNTIME, not_a_dir)
    error(pretrain + ["--out", workdir], EXIT_RUNTIME, "is a directory")
    error(pretrain + ["--out", os.path.join(workdir, "ok.ckpt"), "--log", os.path.join(missing_dir, "l.jsonl")],
          EXIT_RUNTIME, "does not exist")
    check(not os.path.exists(os.path.join(workdir, "ok.ckpt")), "no checkpoint after a bad --log")
    check(os.listdir(workdir) == ["corpus.txt"], "the checks leave nothing behind: %r" % os.listdir(workdir))

    model = os.path.join(workdir, "model.ckpt")
    ok(["pretrain", "--data", corpus, "--out", model, "--steps", "2"] + TINY_MODEL)
    task = os.path.join(example_data(), "e2e", "devset.csv")
    ft_log = os.path.join(workdir, "ft.jsonl")
    err = error(["finetune", "--init", model, "--task", task, "--items", "4", "--steps", "50", "--batch", "2",
                 "--out", bad, "--log", ft_log], EXIT_RUNTIME, bad)
    check("does not exist" in err, "finetune names the missing directory: %r" % err)
    check(not os.path.exists(ft_log), "finetune trained before finding out that --out cannot be written")

    hyps = os.path.join(missing_dir, "hyps.txt")
    err = error(["eval", "--model", model, "--task", task, "--items", "2", "--max-new", "4", "--output", hyps],
                EXIT_RUNTIME, hyps)
    check("does not exist" in err, "eval checks --output before decoding: %r" % err)


main(test)
