"""spdf plot: the SVG of a metrics log, for pre-training (with validation), fine-tuning and a log of
both; every curve inside its panel, one vertex per step for short runs; malformed logs and
unwritable outputs are errors."""
import os
import xml.etree.ElementTree as ET

from clitest import TINY_MODEL, check, error, example_data, main, ok, read_jsonl, tiny_corpus

SVG = "{http://www.w3.org/2000/svg}"


def curves(path):
    root = ET.parse(path).getroot()
    check(root.tag == SVG + "svg", "%s is an SVG document" % path)
    lines = []
    for line in root.iter(SVG + "polyline"):
        points = [tuple(float(v) for v in p.split(",")) for p in line.get("points").split()]
        lines.append(points)
    texts = [t.text for t in root.iter(SVG + "text")]
    return lines, texts


def inside(points, left, top, width, height):
    return all(left - 0.5 <= x <= left + width + 0.5 and top - 0.5 <= y <= top + height + 0.5 for x, y in points)


def test(workdir):
    corpus = tiny_corpus(workdir)
    path = lambda name: os.path.join(workdir, name)
    ok(["pretrain", "--data", corpus, "--out", path("a.ckpt"), "--log", path("pre.jsonl"), "--steps", "30",
        "--eval-every", "10", "--threads", "1"] + TINY_MODEL)
    steps = [r for r in read_jsonl(path("pre.jsonl")) if r["event"] == "step"]
    evals = [r for r in read_jsonl(path("pre.jsonl")) if r["event"] == "eval"]
    out = ok(["plot", path("pre.jsonl")])
    check("plotted 30 steps of 1 run to %s" % path("pre.svg") in out, "default output beside the log: %r" % out)
    lines, texts = curves(path("pre.svg"))
    check(len(lines) == 3, "training, validation and learning-rate curves: %d" % len(lines))
    train, val, lr = lines
    check(len(train) == len(steps) and len(val) == len(evals) and len(lr) == len(steps),
          "one vertex per step and per evaluation: %d %d %d" % (len(train), len(val), len(lr)))
    check(inside(train, 75, 40, 380, 310) and inside(val, 75, 40, 380, 310), "loss curves inside their panel")
    check(inside(lr, 565, 40, 380, 310), "learning rate inside its panel")
    # the learning rate rises through the warmup: its y (pixels, downwards) falls
    check(lr[0][1] > lr[4][1], "warmup drawn rising: %r" % lr[:5])
    check("pretrain: training (smoothed)" in texts and "pretrain: validation" in texts, "legend: %r" % texts)

    task = os.path.join(example_data(), "e2e", "devset.csv")
    ok(["finetune", "--init", path("a.ckpt"), "--task", task, "--format", "e2e", "--items", "8", "--steps", "6",
        "--batch", "4", "--warmup", "2", "--threads", "1", "--allow-truncation", "--out", path("ft.ckpt"),
        "--log", path("ft.jsonl")])
    with open(path("both.jsonl"), "w") as f:
        f.write(open(path("pre.jsonl")).read() + open(path("ft.jsonl")).read())
    out = ok(["plot", path("both.jsonl"), "--out", path("both.svg"), "--title", "two runs"])
    check("36 steps of 2 runs" in out, out)
    lines, texts = curves(path("both.svg"))
    check(len(lines) == 5 and "two runs" in texts and "finetune: training (smoothed)" in texts,
          "both runs drawn: %d curves, %r" % (len(lines), texts))

    with open(path("bad.jsonl"), "w") as f:
        f.write(open(path("pre.jsonl")).read() + "not json\n")
    error(["plot", path("bad.jsonl")], 3, "bad.jsonl:%d: not a record" % (len(steps) + len(evals) + 2))
    with open(path("empty.jsonl"), "w") as f:
        f.write("")
    error(["plot", path("empty.jsonl")], 3, "no training steps")
    error(["plot", path("pre.jsonl"), "--out", path("missing-dir/x.svg")], 1, "does not exist")
    error(["plot"], 2)


main(test)
