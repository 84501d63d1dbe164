"""The tokenizer travels with the model: `pretrain --tokenizer` stores it in the checkpoint, and
finetune, generate, eval and a resumed pretrain use it without being told (the same results as
with the same --tokenizer given); a --tokenizer that differs from the stored one is refused with
both named; a model of more than 257 ids with no tokenizer stored or given is refused."""
import os

from clitest import (EXIT_BAD_INPUT, TINY_MODEL, check, error, example_data, main, ok, ok_json, read_jsonl,
                     tiny_corpus)


def steps(path):
    """What a run logged, without timings: every training step and evaluation."""
    return [(r["event"], r["step"], r.get("loss"), r.get("lr"), r.get("grad_norm"), r.get("val_loss"))
            for r in read_jsonl(path) if r["event"] in ("step", "eval")]


def untimed(result):
    return {k: v for k, v in result.items() if not k.endswith("seconds")}


def test(workdir):
    corpus = tiny_corpus(workdir)
    task = os.path.join(example_data(), "e2e", "devset.csv")
    tok, other = os.path.join(workdir, "tok.bin"), os.path.join(workdir, "other.bin")
    ok(["tokenize", corpus, os.path.join(workdir, "bpe.u16"), "--tokenizer", tok, "--bpe-vocab", "320"])
    ok(["tokenize", corpus, os.path.join(workdir, "other.u16"), "--tokenizer", other, "--bpe-vocab", "300"])
    model = os.path.join(workdir, "bpe.ckpt")
    ok(["pretrain", "--data", corpus, "--out", model, "--steps", "3", "--tokenizer", tok] + TINY_MODEL)
    with open(tok, "rb") as f:
        crc = int.from_bytes(f.read()[-4:], "little")  # docs: the checksum the tokenizer file ends with
    info = ok_json(["info", model])
    check(info["has_tokenizer"] and info["tokenizer_vocab"] == 320 and info["tokenizer_checksum"] == crc,
          "pretrain --tokenizer stores it: %r" % info)
    check("tokenizer   BPE, 320 ids" in ok(["info", model]), "info names the stored tokenizer")

    # finetune without --tokenizer trains exactly as with it (on main it trained on byte ids)
    tune = ["--task", task, "--items", "6", "--steps", "3", "--batch", "2", "--warmup", "1", "--allow-truncation"]
    told, untold = os.path.join(workdir, "told.ckpt"), os.path.join(workdir, "untold.ckpt")
    told_log, untold_log = os.path.join(workdir, "told.jsonl"), os.path.join(workdir, "untold.jsonl")
    told_out = ok(["finetune", "--init", model, "--out", told, "--log", told_log, "--tokenizer", tok] + tune)
    untold_out = ok(["finetune", "--init", model, "--out", untold, "--log", untold_log] + tune)
    check(steps(told_log) == steps(untold_log), "finetune without --tokenizer differs from finetune with it")
    check(told_out.splitlines()[0] == untold_out.splitlines()[0],
          "the same examples: %r vs %r" % (told_out.splitlines()[0], untold_out.splitlines()[0]))
    with open(told, "rb") as a, open(untold, "rb") as b:
        check(a.read() == b.read(), "the fine-tuned checkpoints differ")

    # the fine-tuned checkpoint carries it on: generate and eval need no --tokenizer either
    prompt = ["--prompt", "name[The Eagle]", "--newline", "--max-new", "12"]
    check(ok(["generate", "--model", untold] + prompt) == ok(["generate", "--model", untold, "--tokenizer", tok] + prompt),
          "generate without --tokenizer differs from generate with it")
    scored = ["--task", task, "--items", "2", "--max-new", "8"]
    check(untimed(ok_json(["eval", "--model", untold] + scored))
          == untimed(ok_json(["eval", "--model", untold, "--tokenizer", tok] + scored)),
          "eval --task without --tokenizer differs from eval with it")
    check(ok_json(["eval", "--model", untold, "--text", corpus, "--batches", "2"])
          == ok_json(["eval", "--model", untold, "--text", corpus, "--batches", "2", "--tokenizer", tok]),
          "eval --text without --tokenizer differs from eval with it")

    # a --tokenizer other than the stored one is refused, naming both
    for args in (["finetune", "--init", model, "--out", os.path.join(workdir, "x.ckpt")] + tune,
                 ["generate", "--model", untold] + prompt, ["eval", "--model", untold] + scored):
        err = error(args + ["--tokenizer", other], EXIT_BAD_INPUT, "is not the one stored in")
        check(other in err and (model in err or untold in err), "the message names both: %r" % err)
    check(not os.path.exists(os.path.join(workdir, "x.ckpt")), "a refused finetune writes nothing")

    # a resumed pretrain encodes its text with the stored tokenizer: stopped and resumed without
    # --tokenizer equals the uninterrupted run
    run = ["--data", corpus, "--steps", "6", "--eval-every", "3", "--tokenizer", tok] + TINY_MODEL
    full, part = os.path.join(workdir, "full.ckpt"), os.path.join(workdir, "part.ckpt")
    full_log, part_log = os.path.join(workdir, "full.jsonl"), os.path.join(workdir, "part.jsonl")
    ok(["pretrain", "--out", full, "--log", full_log] + run)
    ok(["pretrain", "--out", part, "--log", part_log, "--stop-at", "3"] + run)
    resumed = ["pretrain", "--out", part, "--log", part_log, "--resume", part] + run
    i = resumed.index("--tokenizer")
    del resumed[i:i + 2]
    ok(resumed)
    check(steps(full_log) == steps(part_log), "a resumed BPE run without --tokenizer differs")
    with open(full, "rb") as a, open(part, "rb") as b:
        check(a.read() == b.read(), "the resumed run's checkpoint differs")
    error(resumed + ["--tokenizer", other], EXIT_BAD_INPUT, "is not the one stored in")

    # a model of 320 ids that stores no tokenizer (trained on token ids) cannot read text without one
    bare = os.path.join(workdir, "bare.ckpt")
    ok(["pretrain", "--data", os.path.join(workdir, "bpe.u16"), "--out", bare, "--steps", "2", "--vocab", "320"]
       + TINY_MODEL)
    check(not ok_json(["info", bare])["has_tokenizer"], "a run without --tokenizer stores none")
    error(["finetune", "--init", bare, "--out", os.path.join(workdir, "y.ckpt")] + tune, EXIT_BAD_INPUT,
          "no tokenizer is stored")
    error(["generate", "--model", bare] + prompt, EXIT_BAD_INPUT, "no tokenizer is stored")
    ok_json(["eval", "--model", bare, "--text", os.path.join(workdir, "bpe.u16"), "--batches", "1"])  # ids need none
    # given one, the fine-tuned model stores it
    adopted = os.path.join(workdir, "adopted.ckpt")
    ok(["finetune", "--init", bare, "--out", adopted, "--tokenizer", tok] + tune)
    check(ok(["generate", "--model", adopted] + prompt) == ok(["generate", "--model", adopted, "--tokenizer", tok] + prompt),
          "the tokenizer given to finetune is stored in its checkpoint")


main(test)
