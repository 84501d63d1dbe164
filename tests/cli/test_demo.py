"""spdf demo --size tiny, end to end (the CI run of the demo): pre-training dense and sparse,
fine-tuning dense, SPDF and sparse, decoding, scoring (every fine-tuned variant writes something
for every MR and scores above 0), and the files it writes."""
import os
import xml.etree.ElementTree as ElementTree

from clitest import check, main, ok, ok_json, read_jsonl

VARIANTS = ["copy the MR", "dense -> dense", "sparse -> dense (SPDF)", "sparse -> sparse"]


def test(workdir):
    out_dir = os.path.join(workdir, "demo")
    out = ok(["demo", "--size", "tiny", "--out", out_dir], timeout=1800)
    for variant in VARIANTS:
        check("| %s" % variant in out, "the table lacks %r:\n%s" % (variant, out))
    with open(os.path.join(out_dir, "report.md"), encoding="utf-8") as f:
        report = f.read()
    check("spdf demo --size tiny --out " in report, "report.md gives the exact command")
    for needle in ["| variant", "pre-training FLOPs", "BLEU", "NIST", "loss.svg", "**MR 1:**", "*reference:*"] + VARIANTS:
        check(needle in report, "report.md lacks %r" % needle)

    svg = ElementTree.parse(os.path.join(out_dir, "loss.svg")).getroot()
    check(svg.tag.endswith("svg"), "loss.svg is an SVG document")
    tags = [element.tag.split("}")[-1] for element in svg.iter()]
    check(tags.count("polyline") >= 5, "curves: 2 pre-training + 2 validation + 3 fine-tuning")
    texts = " ".join(element.text or "" for element in svg.iter())
    for needle in ["Pre-training", "Fine-tuning", "step", "dense: validation"] + VARIANTS[1:]:
        check(needle in texts, "loss.svg lacks the text %r" % needle)

    records = read_jsonl(os.path.join(out_dir, "metrics.jsonl"))
    runs = {r["run"] for r in records if r["event"] == "step"}
    check({"pretrain dense", "pretrain sparse"} <= runs and len(runs) == 5, "runs logged: %r" % runs)
    results = {r["variant"]: r for r in records if r["event"] == "result"}
    check(sorted(results) == sorted(VARIANTS), "results: %r" % sorted(results))
    dense, spdf = results["dense -> dense"], results["sparse -> dense (SPDF)"]
    check(spdf["pretrain_flops"] < 0.8 * dense["pretrain_flops"], "sparse pre-training needs fewer FLOPs")
    for r in results.values():
        check(0 <= r["bleu"] <= 1 and r["nist"] >= 0 and r["segments"] == 6, "scores: %r" % r)
    for variant in VARIANTS[1:]:
        # a preset worth running writes text that scores: every variant says something for every MR
        r = results[variant]
        check(r["bleu"] > 0 and r["hyp_length"] >= 6 * 3, "%s: BLEU %r from %d tokens of output" % (
            variant, r["bleu"], r["hyp_length"]))
        outputs = [line.split(":* ", 1)[1] if ":* " in line else "" for line in report.splitlines()
                   if line.startswith("- *%s:*" % variant)]
        check(outputs and all(o.strip() for o in outputs), "%s: empty sample outputs %r" % (variant, outputs))

    phases = {name: ok_json(["info", os.path.join(out_dir, name + ".ckpt")])["phase"] for name in
              ["pretrain-dense", "pretrain-sparse", "finetune-dense", "finetune-spdf", "finetune-sparse"]}
    check(phases == {"pretrain-dense": "dense", "pretrain-sparse": "sparse", "finetune-dense": "dense",
                     "finetune-spdf": "dense", "finetune-sparse": "sparse"}, "checkpoint phases: %r" % phases)

    # the run's tokenizer decodes what its models generate
    tokenizer = os.path.join(out_dir, "tokenizer.bin")
    with open(tokenizer, "rb") as f:
        check(f.read(8) == b"SPDFBPE1", "tokenizer.bin is a BPE tokenizer file")
    text = ok(["generate", "--model", os.path.join(out_dir, "finetune-spdf.ckpt"), "--tokenizer", tokenizer,
               "--prompt", "name[The Eagle], food[French]", "--newline", "--max-new", "12"])
    check(len(text) > 1, "generate with the demo's tokenizer prints text: %r" % text)


main(test)
