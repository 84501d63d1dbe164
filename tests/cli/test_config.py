"""--config FILE for pretrain, finetune and demo: a flat TOML file of option values that the command
line overrides, with errors naming FILE:LINE; and OUT.config.toml, which every training run writes
and which, given back with --config, repeats the run exactly (the same losses at every step)."""
import os

from clitest import TINY_MODEL, check, error, example_data, main, ok, read_jsonl, tiny_corpus, write


def losses(log):
    """(event, step, loss) of every training step and evaluation of a metrics log."""
    return [(r["event"], r["step"], r.get("loss", r.get("val_loss"))) for r in read_jsonl(log)
            if r["event"] in ("step", "eval")]


def config_values(path):
    """name -> value text of the lines of a written config file."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, value = line.rstrip("\n").split(" = ", 1)
                values[name] = value
    return values


def repeat(command, config, workdir, name, check_log):
    """Runs `spdf command --config config` with new outputs; returns the new log's path."""
    out, log = os.path.join(workdir, name + ".ckpt"), os.path.join(workdir, name + ".jsonl")
    ok([command, "--config", config, "--out", out, "--log", log])
    check(losses(log) == losses(check_log), "%s --config %s: the losses differ from the run that wrote it"
          % (command, config))
    return out


def test_repeat(workdir, corpus):
    """A sparse pre-training and a fine-tuning of it, each repeated from its config file."""
    first, log = os.path.join(workdir, "first.ckpt"), os.path.join(workdir, "first.jsonl")
    ok(["pretrain", "--data", corpus, "--out", first, "--log", log, "--steps", "8", "--eval-every", "4",
        "--sparsity", "0.5", "--seed", "7", "--lr", "0.0023", "--mask", "magnitude"] + TINY_MODEL)
    config = first + ".config.toml"
    values = config_values(config)
    check(values.get("sparsity") == "0.5" and values.get("lr") == "0.0023" and values.get("mask") == '"magnitude"'
          and values.get("seed") == "7" and values.get("steps") == "8", "the written config: %r" % values)
    check(values.get("batch") == "4" and values.get("threads") == "0", "every option is written: %r" % values)
    check("resume" not in values, "an option that is not set is a comment: %r" % values)
    again = repeat("pretrain", config, workdir, "again", log)
    check(config_values(again + ".config.toml").get("sparsity") == "0.5", "the repeat writes its config too")

    task = os.path.join(example_data(), "e2e", "devset.csv")
    tuned, tuned_log = os.path.join(workdir, "tuned.ckpt"), os.path.join(workdir, "tuned.jsonl")
    ok(["finetune", "--init", first, "--task", task, "--format", "e2e", "--items", "8", "--steps", "4",
        "--batch", "2", "--warmup", "1", "--allow-truncation", "--reset-moments", "--out", tuned, "--log", tuned_log])
    tuned_values = config_values(tuned + ".config.toml")
    check(tuned_values.get("reset-moments") == "true" and tuned_values.get("sparse") == "false",
          "flags are written as true and false: %r" % tuned_values)
    repeat("finetune", tuned + ".config.toml", workdir, "tuned-again", tuned_log)


def test_demo(workdir):
    """The demo writes DIR/config.toml; an option whose default comes from the preset and that was not
    given stays a comment, so that the repeat takes it from the preset again."""
    first = os.path.join(workdir, "demo-first")
    ok(["demo", "--size", "tiny", "--out", first, "--eval-items", "1", "--finetune-steps", "5"])
    config = os.path.join(first, "config.toml")
    values = config_values(config)
    check("steps" not in values and values.get("finetune-steps") == "5" and values.get("size") == '"tiny"',
          "the demo's config: %r" % values)
    again = os.path.join(workdir, "demo-again")
    ok(["demo", "--config", config, "--out", again])
    check(losses(os.path.join(again, "metrics.jsonl")) == losses(os.path.join(first, "metrics.jsonl")),
          "demo --config: the losses differ from the run that wrote it")


def test_file_and_command_line(workdir, corpus):
    """A hand-written file: comments, quoted strings with escapes and '#', the command line wins."""
    data = os.path.join(workdir, "data #1.txt")
    with open(corpus, "rb") as src, open(data, "wb") as dst:
        dst.write(src.read())
    quoted = data.replace("\\", "\\\\").replace('"', '\\"')
    config = write(os.path.join(workdir, "run.toml"),
                   "# a tiny run\n\n"
                   "data = \"%s\"   # the corpus\n"
                   "layers = 1\nheads = 2\nwidth = 32\ncontext = 16\nbatch = 2\n"
                   "steps = 50\nlr = 2e-3\nmask = 'erk'\nsparsity = 0.25\n" % quoted)
    out = os.path.join(workdir, "cli.ckpt")
    ok(["pretrain", "--config", config, "--out", out, "--steps", "3", "--eval-every", "0"])
    values = config_values(out + ".config.toml")
    check(values.get("steps") == "3", "the command line overrides the file: %r" % values)
    check(values.get("lr") == "0.002" and values.get("mask") == '"erk"' and values.get("layers") == "1",
          "the file sets the others: %r" % values)
    check(values.get("data") == '"%s"' % quoted, "the data path round-trips: %r" % values)


def test_errors(workdir, corpus):
    def bad(text, contains):
        path = write(os.path.join(workdir, "bad.toml"), text)
        error(["pretrain", "--config", path, "--data", corpus, "--out", os.path.join(workdir, "x.ckpt")], 2,
              contains)

    bad("steps = 3\nstpes = 4\n", "bad.toml:2: unknown option 'stpes'; did you mean 'steps'?")
    bad("steps = 3\n\nsteps = 4\n", "bad.toml:3: 'steps' is set twice (first on line 1)")
    bad("steps = \"3\"\n", "bad.toml:1: 'steps' must be an integer in [1, 1000000000]")
    bad("lr = fast\n", "bad.toml:1: 'lr' must be a number in [0, 10]")
    bad("mask = random\n", "bad.toml:1: 'mask' must be one of random, magnitude, erk (quoted)")
    bad("log = \"a.jsonl\" x\n", "bad.toml:1: unexpected text after the value")
    bad("log = \"a.jsonl\n", "bad.toml:1: unterminated string")
    bad("[pretrain]\n", "bad.toml:1: expected 'name = value'")
    bad("config = \"other.toml\"\n", "bad.toml:1: a config file cannot name another")
    bad("resume =\n", "bad.toml:1: missing value")
    path = write(os.path.join(workdir, "flag.toml"), "reset-moments = yes\n")
    error(["finetune", "--config", path, "--init", "x", "--task", "y", "--out", "z"], 2,
          "flag.toml:1: 'reset-moments' must be true or false")
    error(["pretrain", "--config", os.path.join(workdir, "missing.toml")], 2, "missing.toml")
    error(["pretrain", "--config", path, "--config", path], 2, "--config given twice")
    error(["generate", "--config", path], 2, "unknown option '--config'")


def test(workdir):
    corpus = tiny_corpus(workdir)
    test_errors(workdir, corpus)
    test_file_and_command_line(workdir, corpus)
    test_repeat(workdir, corpus)
    test_demo(workdir)


if __name__ == "__main__":
    main(test)
