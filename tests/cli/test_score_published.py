"""spdf score reproduces the BLEU figures published for the WebNLG 2017 baseline and DART's
BART-large (the READMEs under /work/shared/data/webnlg and dart): sacreBLEU with tokenize none,
which drops blank references (32.39 and 47.59), and Moses' multi-bleu.perl, which counts a blank
reference line as a reference of length 0 (33.24 with -lc and 48.56 without), with their
hypothesis and reference lengths.  The files are read in place, never copied into the repository;
without them the test is skipped.  Also: DART's test XML given as --format dart hints at
--format webnlg."""
import os

from clitest import EXIT_BAD_INPUT, SKIP, check, error, main, ok, ok_json, shared_data

CASES = [
    # (what, directory, hypotheses, references, flags, BLEU printed, hyp_len, ref_len)
    ("WebNLG, sacreBLEU -lc --tokenize none", "webnlg", "baseline-test-output.txt", "gold-all-cat-reference%d.lex",
     ["--tokenize", "none"], "0.3239", 35312, 41357),
    ("WebNLG, multi-bleu.perl -lc", "webnlg", "baseline-test-output.txt", "gold-all-cat-reference%d.lex",
     ["--tokenize", "none", "--blank-refs", "count"], "0.3324", 35312, 40435),
    ("DART, sacreBLEU --tokenize none", "dart", "bart-large-test-output.txt", "all-delex-reference%d.lex",
     ["--tokenize", "none", "--no-lowercase"], "0.4759", 110554, 119165),
    ("DART, multi-bleu.perl", "dart", "bart-large-test-output.txt", "all-delex-reference%d.lex",
     ["--tokenize", "none", "--no-lowercase", "--blank-refs", "count"], "0.4856", 110554, 116948),
]


def test(workdir):
    missing = [os.path.join(shared_data(), d, "eval", name % 0 if "%" in name else name)
               for _, d, hyps, refs, _, _, _, _ in CASES for name in (hyps, refs)]
    missing = [path for path in missing if not os.path.exists(path)]
    if missing:
        print("SKIP: %s is missing" % missing[0])
        return SKIP
    for what, directory, hyps, refs, flags, bleu, hyp_length, ref_length in CASES:
        folder = os.path.join(shared_data(), directory, "eval")
        args = ["score", "--hyp", os.path.join(folder, hyps)]
        for i in range(3):
            args += ["--ref", os.path.join(folder, refs % i)]
        out = ok(args + flags)
        check(out.splitlines()[0] == "BLEU " + bleu, "%s: %r, published BLEU %s" % (what, out, bleu))
        result = ok_json(args + flags)
        check(result["hyp_length"] == hyp_length and result["ref_length"] == ref_length,
              "%s: lengths %d / %d, published %d / %d" % (what, result["hyp_length"], result["ref_length"],
                                                          hyp_length, ref_length))
    webnlg = ok_json(["score", "--hyp", os.path.join(shared_data(), "webnlg", "eval", "baseline-test-output.txt")]
                     + sum((["--ref", os.path.join(shared_data(), "webnlg", "eval", "gold-all-cat-reference%d.lex" % i)]
                            for i in range(3)), []) + ["--tokenize", "none", "--limit", "100"])
    check(webnlg["segments"] == 100, "--limit 100 scores 100 segments: %r" % webnlg["segments"])

    dart_xml = os.path.join(shared_data(), "dart", "dart-v1.1.1-full-test.xml")
    if os.path.exists(dart_xml):
        hyps = os.path.join(shared_data(), "dart", "eval", "bart-large-test-output.txt")
        error(["score", "--refs", dart_xml, "--format", "dart", "--hyps", hyps], EXIT_BAD_INPUT, "--format webnlg")
        result = ok_json(["score", "--refs", dart_xml, "--format", "webnlg", "--hyps", hyps])
        check(result["segments"] == 5097, "DART's test XML as WebNLG: %r" % result["segments"])


main(test)
