"""spdf score on small hand-made files, against bleu_reference.py (an independent re-implementation
of the E2E scorer, which reproduces the official perl scorer's published numbers): plain text with
several reference files, E2E CSV references with TSV output (any order, quoted MRs) or one output
per line; --tokenize, --lowercase / --no-lowercase and --blank-refs against a white-space BLEU
written here; --limit; WebNLG XML and JSON Lines references, and the hint for a wrong --format."""
import csv
import io
import math
import os

from bleu_reference import corpus_scores
from clitest import EXIT_BAD_INPUT, EXIT_USAGE, check, error, main, ok, ok_json, write

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


# Pre-tokenized, lowercased texts as WebNLG and DART ship them; the second reference file has
# blank lines where an item has a single reference.
TOKENIZED_HYPS = [
    "the eagle is a coffee shop near burger king .",
    "blue spice serves french food .",
    "the mill is a pub by the river and it is cheap .",
    "aarhus airport serves the city of aarhus in denmark .",
]
TOKENIZED_REFS = [
    ["the eagle is a coffee shop in the city centre near burger king .",
     "near burger king , the eagle is a coffee shop ."],
    ["blue spice serves french food at high prices in the city centre , near the river .", ""],
    ["the mill is a cheap pub near the river .", "by the river there is a cheap pub , the mill ."],
    ["aarhus airport serves aarhus , denmark .", ""],
]


def ngram_counts(words, n):
    counts = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def whitespace_bleu(hyps, refs, lowercase=True, count_blank=False):
    """BLEU-4 of text split at white space, without smoothing: blank references ignored (sacreBLEU,
    mteval), or counted as length 0 when choosing the closest reference length (multi-bleu.perl)."""
    fold = (lambda t: t.lower()) if lowercase else (lambda t: t)
    matches, totals, hyp_length, ref_length = [0] * 4, [0] * 4, 0, 0
    for hyp, rs in zip(hyps, refs):
        h = fold(hyp).split()
        tokenized = [fold(r).split() for r in rs]
        kept = tokenized if count_blank else [r for r in tokenized if r]
        hyp_length += len(h)
        ref_length += min((abs(len(r) - len(h)), len(r)) for r in kept)[1]
        for n in range(1, 5):
            best = {}
            for r in kept:
                for gram, c in ngram_counts(r, n).items():
                    best[gram] = max(best.get(gram, 0), c)
            matches[n - 1] += sum(min(c, best.get(gram, 0)) for gram, c in ngram_counts(h, n).items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    check(all(matches), "the hand-made case needs matches of every order: %r" % matches)
    brevity = math.exp(1 - ref_length / hyp_length) if hyp_length < ref_length else 1.0
    bleu = brevity * math.exp(sum(math.log(m / t) for m, t in zip(matches, totals)) / 4)
    return {"bleu": bleu, "matches": matches, "totals": totals, "hyp_length": hyp_length, "ref_length": ref_length}


def expect_stats(result, expected, what):
    for key in ("matches", "totals", "hyp_length", "ref_length"):
        check(result[key] == expected[key], "%s: %s %r, expected %r" % (what, key, result[key], expected[key]))
    check(abs(result["bleu"] - expected["bleu"]) < 1e-12, "%s: BLEU %r, expected %r" % (what, result["bleu"],
                                                                                        expected["bleu"]))


def test_tokenize_and_case(workdir):
    hyp = write(os.path.join(workdir, "tok-hyp.txt"), "\n".join(TOKENIZED_HYPS) + "\n")
    ref_files = ["--ref", write(os.path.join(workdir, "tok-ref0.txt"), "\n".join(r[0] for r in TOKENIZED_REFS) + "\n"),
                 "--ref", write(os.path.join(workdir, "tok-ref1.txt"), "\n".join(r[1] for r in TOKENIZED_REFS) + "\n")]
    plain = ["score", "--hyp", hyp] + ref_files
    ignored = whitespace_bleu(TOKENIZED_HYPS, TOKENIZED_REFS)
    counted = whitespace_bleu(TOKENIZED_HYPS, TOKENIZED_REFS, count_blank=True)
    check(counted["ref_length"] < ignored["ref_length"], "blank references shorten the closest lengths here")
    expect_stats(ok_json(plain + ["--tokenize", "none"]), ignored, "--tokenize none")
    expect_stats(ok_json(plain + ["--tokenize", "none", "--blank-refs", "count"]), counted, "--blank-refs count")
    expect_stats(ok_json(plain + ["--tokenize", "none", "--blank-refs", "ignore"]), ignored, "--blank-refs ignore")

    # 13a splits punctuation off that white space leaves attached; char counts characters
    words = "The Eagle, near Burger King."
    glued = write(os.path.join(workdir, "glued.txt"), words + "\n")
    lengths = {t: ok_json(["score", "--hyp", glued, "--ref", glued, "--tokenize", t])["hyp_length"]
               for t in ("13a", "none", "char")}
    check(lengths == {"13a": 7, "none": 5, "char": len(words.replace(" ", ""))}, "tokens: %r" % lengths)
    check(ok_json(["score", "--hyp", glued, "--ref", glued])["hyp_length"] == 7, "13a is the default")

    # case: lowercased by default (the E2E scorer), kept with --no-lowercase (sacreBLEU's default)
    shouted = [h.upper() for h in TOKENIZED_HYPS]
    loud = write(os.path.join(workdir, "loud.txt"), "\n".join(shouted) + "\n")
    loud_args = ["score", "--hyp", loud] + ref_files + ["--tokenize", "none"]
    expect_stats(ok_json(loud_args), whitespace_bleu(shouted, TOKENIZED_REFS), "lowercased by default")
    expect_stats(ok_json(loud_args + ["--lowercase"]), whitespace_bleu(shouted, TOKENIZED_REFS), "--lowercase")
    kept = ok_json(loud_args + ["--no-lowercase"])
    check(kept["matches"][0] == sum(h.split().count(".") + h.split().count(",") for h in shouted),
          "--no-lowercase: only the punctuation matches: %r" % kept["matches"])
    error(loud_args + ["--lowercase", "--no-lowercase"], EXIT_USAGE, "exclude each other")
    error(["score", "--hyp", loud] + ref_files + ["--tokenize", "intl"], EXIT_USAGE, "13a, none, char")


def test_limit(workdir):
    hyp = write(os.path.join(workdir, "limit-hyp.txt"), "\n".join(HYPS) + "\n")
    ref_a = write(os.path.join(workdir, "limit-ref_a.txt"), "\n".join(REFS_A) + "\n")
    bleu, nist = corpus_scores(HYPS[:3], [[a] for a in REFS_A[:3]])
    expect_json(ok_json(["score", "--hyp", hyp, "--ref", ref_a, "--limit", "3"]), bleu, nist, 3, "--limit 3")
    three = write(os.path.join(workdir, "limit-three.txt"), "\n".join(HYPS[:3]) + "\n")
    expect_json(ok_json(["score", "--hyp", three, "--ref", ref_a, "--limit", "3"]), bleu, nist, 3,
                "--limit 3 with three hypotheses against five references")
    error(["score", "--hyp", three, "--ref", ref_a], EXIT_BAD_INPUT, "holds 5 lines")
    error(["score", "--hyp", three, "--ref", ref_a, "--limit", "4"], EXIT_BAD_INPUT, "fewer than --limit 4")

    items = [("name[A]", ["A is a pub."]), ("name[B]", ["B is a cafe near the river."]),
             ("name[C]", ["C serves French food."])]
    refs = write(os.path.join(workdir, "limit-refs.csv"), csv_text([(mr, r) for mr, rs in items for r in rs]))
    outputs = ["A is a pub in town.", "B is a cafe by the river."]
    bleu, nist = corpus_scores(outputs, [rs for _, rs in items[:2]])
    lines = write(os.path.join(workdir, "limit-out.txt"), "\n".join(outputs) + "\n")
    expect_json(ok_json(["score", "--refs", refs, "--hyps", lines, "--limit", "2"]), bleu, nist, 2, "E2E --limit 2")
    error(["score", "--refs", refs, "--hyps", lines], EXIT_BAD_INPUT, "holds 2 lines")
    tsv = write(os.path.join(workdir, "limit-out.tsv"), "MR\toutput\nname[C]\tC.\nname[B]\t%s\nname[A]\t%s\n"
                % (outputs[1], outputs[0]))
    expect_json(ok_json(["score", "--refs", refs, "--hyps", tsv, "--limit", "2"]), bleu, nist, 2,
                "TSV --limit 2 passes over the third MR")


WEBNLG_XML = """<?xml version="1.0" encoding="UTF-8"?>
<benchmark><entries>
<entry category="Airport" eid="Id1" size="1"><modifiedtripleset><mtriple>Aarhus_Airport | cityServed | Aarhus</mtriple></modifiedtripleset>
<lex lid="Id1">Aarhus Airport serves the city of Aarhus.</lex><lex lid="Id2">The city of Aarhus is served by Aarhus Airport.</lex></entry>
<entry category="Food" eid="Id2" size="1"><modifiedtripleset><mtriple>Bakewell_pudding | region | Derbyshire_Dales</mtriple></modifiedtripleset>
<lex lid="Id1">Bakewell pudding comes from the Derbyshire Dales.</lex></entry>
</entries></benchmark>
"""


def test_formats(workdir):
    xml = write(os.path.join(workdir, "webnlg.xml"), WEBNLG_XML)
    outputs = ["Aarhus Airport serves the city of Aarhus.", "Bakewell pudding is from the Derbyshire Dales."]
    hyps = write(os.path.join(workdir, "webnlg-out.txt"), "\n".join(outputs) + "\n")
    bleu, nist = corpus_scores(outputs, [["Aarhus Airport serves the city of Aarhus.",
                                          "The city of Aarhus is served by Aarhus Airport."],
                                         ["Bakewell pudding comes from the Derbyshire Dales."]])
    expect_json(ok_json(["score", "--refs", xml, "--format", "webnlg", "--hyps", hyps]), bleu, nist, 2, "WebNLG XML")
    jsonl = write(os.path.join(workdir, "task.jsonl"),
                  '{"prompt": "a", "target": ["Aarhus Airport serves the city of Aarhus.", '
                  '"The city of Aarhus is served by Aarhus Airport."]}\n'
                  '{"prompt": "b", "target": "Bakewell pudding comes from the Derbyshire Dales."}\n')
    expect_json(ok_json(["score", "--refs", jsonl, "--format", "jsonl", "--hyps", hyps]), bleu, nist, 2, "JSON Lines")
    error(["score", "--refs", xml, "--format", "dart", "--hyps", hyps], EXIT_BAD_INPUT, "--format webnlg")
    error(["score", "--refs", xml, "--hyps", hyps], EXIT_BAD_INPUT, "--format webnlg")
    dart = write(os.path.join(workdir, "dart.json"), '[{"tripleset": [["a", "b", "c"]], "annotations": []}]\n')
    error(["score", "--refs", dart, "--format", "webnlg", "--hyps", hyps], EXIT_BAD_INPUT, "--format dart")
    error(["score", "--hyp", hyps, "--ref", hyps, "--format", "webnlg"], EXIT_USAGE, "--format")


def test(workdir):
    test_plain(workdir)
    test_e2e(workdir)
    test_tokenize_and_case(workdir)
    test_limit(workdir)
    test_formats(workdir)


main(test)
