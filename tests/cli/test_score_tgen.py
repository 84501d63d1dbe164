"""spdf score reproduces the official E2E scorer on the challenge's TGen baseline output: BLEU
0.6593, NIST 8.6094 (Dusek et al., INLG 2018).  The files are read in place under
/work/shared/data/e2e (never copied into the repository); without them the test is skipped."""
import os

from clitest import SKIP, check, main, ok, ok_json, shared_data


def test(workdir):
    e2e = os.path.join(shared_data(), "e2e")
    refs = os.path.join(e2e, "testset_w_refs.csv")
    tgen = os.path.join(e2e, "eval", "tgen-test-output.tsv")
    if not (os.path.exists(refs) and os.path.exists(tgen)):
        print("SKIP: %s or %s is missing" % (refs, tgen))
        return SKIP
    out = ok(["score", "--refs", refs, "--hyps", tgen])
    check(out.splitlines()[:2] == ["BLEU 0.6593", "NIST 8.6094"], "TGen: %r" % out)
    result = ok_json(["score", "--refs", refs, "--hyps", tgen])
    check(result["segments"] == 630 and result["matches"] == [15484, 12189, 9110, 6681]
          and result["totals"] == [16664, 16034, 15404, 14774] and result["ref_length"] == 16616,
          "TGen statistics (sacreBLEU's counts): %r" % result)
    # the same outputs one per line, in the order of the references' MRs
    with open(tgen, encoding="utf-8") as f:
        outputs = [line.split("\t", 1)[1] for line in f.read().splitlines()[1:]]
    lines = os.path.join(workdir, "tgen.txt")
    with open(lines, "w", encoding="utf-8") as f:
        f.write("\n".join(outputs) + "\n")
    check(ok(["score", "--refs", refs, "--hyps", lines]).splitlines()[:2] == ["BLEU 0.6593", "NIST 8.6094"],
          "TGen, one output per line")


main(test)
