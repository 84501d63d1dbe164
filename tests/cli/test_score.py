"""spdf score on small hand-made files, against bleu_reference.py (an independent re-implementation
of the E2E scorer, which reproduces the official perl scorer's published numbers): plain text with
several reference files, E2E CSV references with TSV output (any order, quoted MRs) or one output
per line."""
import csv
import io
import os

from bleu_reference import corpus_scores
from clitest import check, main, ok, ok_json, write

HYPS = [
    "The Eagle is a coffee shop near Burger King in the city centre.",
    "Blue Spice serves French food, prices are high.",
    "There is a cheap pub called The Mill by the river.",
    "Cocum is a family friendly place with a rating of 5 out of 5 and costs 20-25 pounds.",
    "Nothing here matches at all",
]
REFS_A = [
    "The Eagle is a coffee shop in the city centre near Burger King.",
    "Blue Spice serves expensive French food.",
    "The Mill is a cheap pub by the riverside.",
    "Cocum is family friendly, rated 5 out of 5, and costs 20-25 pounds.",
    "Zebra crossing.",
]
REFS_B = [
    "Near Burger King in the city centre, The Eagle is a coffee shop.",
    "",
    "There is a cheap pub called The Mill near the river.",
    "Cocum, a family friendly coffee shop, has a 5 out of 5 rating.",
    "",
]


def expect(out, bleu, nist, what):
    lines = out.splitlines()
    check(lines[:2] == ["BLEU %.4f" % bleu, "NIST %.4f" % nist],
          "%s: printed %r, expected BLEU %.4f NIST %.4f" % (what, lines, bleu, nist))


def expect_json(result, bleu, nist, segments, what):
    check(abs(result["bleu"] - bleu) < 1e-9 and abs(result["nist"] - nist) < 1e-8,
          "%s: %r, expected BLEU %.10f NIST %.10f" % (what, result, bleu, nist))
    check(result["segments"] == segments, "%s: %d segments" % (what, result["segments"]))


def test_plain(workdir):
    hyp = write(os.path.join(workdir, "hyp.txt"), "\n".join(HYPS) + "\n")
    ref_a = write(os.path.join(workdir, "ref_a.txt"), "\n".join(REFS_A) + "\n")
    ref_b = write(os.path.join(workdir, "ref_b.txt"), "\r\n".join(REFS_B) + "\r\n")
    bleu, nist = corpus_scores(HYPS, [[a, b] for a, b in zip(REFS_A, REFS_B)])
    check(0.2 < bleu < 0.8, "the hand-made case should be neither trivial nor hopeless: %f" % bleu)
    expect(ok(["score", "--hyp", hyp, "--ref", ref_a, "--ref", ref_b]), bleu, nist, "two references")
    expect_json(ok_json(["score", "--hyp", hyp, "--ref", ref_a, "--ref", ref_b]), bleu, nist, 5, "two references")
    bleu, nist = corpus_scores(HYPS, [[a] for a in REFS_A])
    expect_json(ok_json(["score", "--hyp", hyp, "--ref", ref_a]), bleu, nist, 5, "one reference")
    # no 4-gram in common: mteval's smoothing keeps BLEU above 0
    short = ["a b c d e", "f g h i j"]
    hyp2 = write(os.path.join(workdir, "hyp2.txt"), "\n".join(short) + "\n")
    ref2 = write(os.path.join(workdir, "ref2.txt"), "a b c x e\nf g h y j\n")
    bleu, nist = corpus_scores(short, [["a b c x e"], ["f g h y j"]])
    check(bleu > 0, "smoothing")
    expect_json(ok_json(["score", "--hyp", hyp2, "--ref", ref2]), bleu, nist, 2, "smoothed")


def csv_text(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["mr", "ref"])
    writer.writerows(rows)
    return buffer.getvalue()


def test_e2e(workdir):
    items = [
        ('name[The Eagle], eatType[coffee shop], near[Burger King]', REFS_A[0:1] + REFS_B[0:1]),
        ('name[Blue Spice], food[French], priceRange[high]', REFS_A[1:2]),
        ('name[The Mill], eatType[pub], area[riverside], priceRange[cheap]',
         [REFS_A[2], REFS_B[2], 'A "cheap" pub, The Mill, is by the river.']),
    ]
    refs = write(os.path.join(workdir, "refs.csv"), csv_text([(mr, r) for mr, rs in items for r in rs]))
    outputs = HYPS[:3]
    bleu, nist = corpus_scores(outputs, [rs for _, rs in items])
    lines = write(os.path.join(workdir, "out.txt"), "\n".join(outputs) + "\n")
    expect(ok(["score", "--refs", refs, "--hyps", lines]), bleu, nist, "one output per line")
    quoted = lambda mr: '"%s"' % mr.replace('"', '""')
    tsv = "MR\toutput\n" + "".join("%s\t%s\n" % (quoted(items[i][0]), outputs[i]) for i in (2, 0, 1))
    expect_json(ok_json(["score", "--refs", refs, "--hyps", write(os.path.join(workdir, "out.tsv"), tsv)]),
                bleu, nist, 3, "TSV in another order")


def test(workdir):
    test_plain(workdir)
    test_e2e(workdir)


main(test)
