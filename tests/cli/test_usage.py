"""spdf's command line: --help of every subcommand, and the one-line errors with their documented
exit codes for bad flags, missing values, unknown commands, missing and malformed files."""
import os

from clitest import (EXIT_BAD_INPUT, EXIT_USAGE, check, error, example_data, main, ok, run, write)

COMMANDS = ["tokenize", "pretrain", "finetune", "generate", "eval", "score", "flops", "info", "export", "import",
            "demo"]


def test_help():
    out = ok(["--help"])
    for command in COMMANDS:
        check(command in out, "spdf --help does not list %s" % command)
    check(ok(["--version"]).startswith("spdf "), "spdf --version")
    for command in COMMANDS:
        for flag in ("--help", "-h"):
            code, out, err = run([command, flag])
            check(code == 0, "spdf %s %s: exit %d" % (command, flag, code))
            check(out.startswith("usage: spdf %s" % command), "spdf %s --help: %r" % (command, out[:80]))
            check("--help" in out and err == "", "spdf %s --help prints its options only" % command)
        check(ok(["help", command]).startswith("usage: spdf %s" % command), "spdf help %s" % command)


def test_usage_errors(workdir):
    code, out, err = run([])
    check(code == EXIT_USAGE and "usage" in err, "spdf without a command")
    error(["frobnicate"], EXIT_USAGE, "unknown command")
    bad = [
        ["tokenize", "in.txt"],
        ["tokenize", "a", "b", "c"],
        ["tokenize", "a", "b", "--format", "u64"],
        ["tokenize", "a", "b", "--format"],
        ["tokenize", "a", "b", "-x"],
        ["pretrain", "--out", "m.ckpt"],
        ["pretrain", "--data"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--steps", "-3"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--steps", "12x"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--lr", "fast"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--mask", "triangle"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--sparsity", "1.5"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--frobnicate", "1"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--steps", "5", "--steps", "6"],
        ["pretrain", "--data", "c.txt", "--out", "m.ckpt", "extra"],
        ["finetune", "--init", "a.ckpt", "--task", "t.csv"],
        ["finetune", "--init", "a.ckpt", "--task", "t.csv", "--out", "b.ckpt", "--dense", "--sparse"],
        ["finetune", "--init", "a.ckpt", "--task", "t.csv", "--out", "b.ckpt", "--format", "xml"],
        ["finetune", "--init", "a.ckpt", "--task", "t.csv", "--out", "b.ckpt", "--dense=1"],
        ["generate", "--model", "a.ckpt"],
        ["generate", "--model", "a.ckpt", "--prompt", "x", "--strategy", "psychic"],
        ["generate", "--model", "a.ckpt", "--prompt", ""],
        ["eval", "--model", "a.ckpt"],
        ["eval", "--model", "a.ckpt", "--text", "a.txt", "--task", "t.csv"],
        ["score"],
        ["score", "--refs", "r.csv"],
        ["score", "--hyp", "h.txt"],
        ["score", "--refs", "r.csv", "--hyps", "h.tsv", "--ref", "x.txt"],
        ["flops", "--width", "64", "--heads", "3"],
        ["flops", "--sparsity", "1"],
        ["flops", "--layers", "0"],
        ["info"],
        ["info", "a.ckpt", "b.ckpt"],
        ["export", "a.ckpt"],
        ["import", "a.safetensors", "b.ckpt", "--format", "onnx"],
        ["import", "a.safetensors", "b.ckpt", "--heads", "-1"],
        ["demo", "--size", "huge"],
        ["demo", "--steps", "0"],
    ]
    for args in bad:
        error(args, EXIT_USAGE, cwd=workdir)


def test_did_you_mean(workdir):
    """A misspelled option or command names the one meant when it is a few edits away, and only then."""
    err = error(["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--stpes", "10"], EXIT_USAGE,
                "did you mean --steps?", cwd=workdir)
    check("'--stpes'" in err, "the message repeats what was typed: %r" % err)
    error(["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--sparsty=0.5"], EXIT_USAGE, "did you mean --sparsity?",
          cwd=workdir)
    error(["score", "-hyp", "h.txt"], EXIT_USAGE, "did you mean --hyp?", cwd=workdir)
    error(["score", "--tokenise", "none"], EXIT_USAGE, "did you mean --tokenize?", cwd=workdir)
    error(["finetune", "--int", "a.ckpt"], EXIT_USAGE, "did you mean --init?", cwd=workdir)
    err = error(["pretrain", "--data", "c.txt", "--out", "m.ckpt", "--frobnicate", "1"], EXIT_USAGE, cwd=workdir)
    check("did you mean" not in err, "nothing is close to --frobnicate: %r" % err)
    error(["pretrian"], EXIT_USAGE, "did you mean 'pretrain'?")
    err = error(["frobnicate"], EXIT_USAGE, "unknown command")
    check("did you mean" not in err, "nothing is close to frobnicate: %r" % err)


def test_missing_files(workdir):
    missing = os.path.join(workdir, "does-not-exist")
    devset = os.path.join(example_data(), "e2e", "devset.csv")
    text = write(os.path.join(workdir, "text.txt"), "hello\nworld\n")
    for args in [
        ["tokenize", missing, os.path.join(workdir, "out.bin")],
        ["tokenize", workdir, os.path.join(workdir, "out.bin")],
        ["pretrain", "--data", missing, "--out", os.path.join(workdir, "m.ckpt")],
        ["pretrain", "--data", text, "--out", os.path.join(workdir, "m.ckpt"), "--resume", missing, "--context", "4"],
        ["finetune", "--init", os.path.join(workdir, "a.ckpt"), "--task", missing, "--out", "b.ckpt"],
        ["finetune", "--init", missing, "--task", devset, "--out", os.path.join(workdir, "b.ckpt")],
        ["generate", "--model", missing, "--prompt", "hello"],
        ["eval", "--model", missing, "--text", text],
        ["score", "--refs", missing, "--hyps", text],
        ["score", "--refs", devset, "--hyps", missing],
        ["score", "--hyp", missing, "--ref", text],
        ["score", "--hyp", text, "--ref", missing],
        ["info", missing],
        ["demo", "--data-dir", missing, "--out", os.path.join(workdir, "demo")],
    ]:
        error(args, EXIT_BAD_INPUT)


def test_malformed_files(workdir):
    text = write(os.path.join(workdir, "text.txt"), "hello\nworld\n")
    bad_csv = write(os.path.join(workdir, "bad.csv"), "meaning,text\n\"a\",\"b\"\n")
    unterminated = write(os.path.join(workdir, "unterminated.csv"), "mr,ref\n\"name[A]\",\"an open quote\n")
    refs = write(os.path.join(workdir, "refs.csv"), 'mr,ref\n"name[A]","A is here."\n"name[B]","B is there."\n')
    three = write(os.path.join(workdir, "three.txt"), "a\nb\nc\n")
    unknown_mr = write(os.path.join(workdir, "unknown.tsv"), 'MR\toutput\n"name[A]"\tA.\n"name[C]"\tC.\n')
    twice = write(os.path.join(workdir, "twice.tsv"), 'MR\toutput\n"name[A]"\tA.\n"name[A]"\tA again.\n')
    missing_mr = write(os.path.join(workdir, "missing.tsv"), 'MR\toutput\n"name[A]"\tA.\n')
    with open(os.path.join(workdir, "broken.tok"), "wb") as f:
        f.write(b"SPDT" + bytes(2000))
    with open(os.path.join(workdir, "broken.ckpt"), "wb") as f:
        f.write(b"SPDFCKPT" + bytes(100))
    broken_tokens = os.path.join(workdir, "broken.tok")
    broken_ckpt = os.path.join(workdir, "broken.ckpt")
    out = os.path.join(workdir, "out.ckpt")
    for args in [
        ["info", text],
        ["info", broken_ckpt],
        ["generate", "--model", text, "--prompt", "hello"],
        ["eval", "--model", broken_ckpt, "--text", text],
        ["pretrain", "--data", broken_tokens, "--out", out],
        ["pretrain", "--data", text, "--out", out, "--context", "64"],
        ["finetune", "--init", broken_ckpt, "--task", refs, "--out", out],
        ["finetune", "--init", out, "--task", bad_csv, "--out", out],
        ["finetune", "--init", out, "--task", unterminated, "--out", out],
        ["score", "--refs", bad_csv, "--hyps", three],
        ["score", "--refs", refs, "--hyps", three],
        ["score", "--refs", refs, "--hyps", unknown_mr],
        ["score", "--refs", refs, "--hyps", twice],
        ["score", "--refs", refs, "--hyps", missing_mr],
        ["score", "--hyp", three, "--ref", text],
    ]:
        error(args, EXIT_BAD_INPUT)


def test(workdir):
    test_help()
    test_usage_errors(workdir)
    test_did_you_mean(workdir)
    test_missing_files(workdir)
    test_malformed_files(workdir)


main(test)
