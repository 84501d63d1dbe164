"""spdf flops: the paper's FLOP accounting; GPT-3 XL at 75 % sparsity needs 2.5x fewer training
FLOPs.  The numbers are also recomputed here from the formula."""
from clitest import check, main, ok, ok_json


def formula(L, d, T, V, s):
    forward = lambda density: 2 * 12 * L * d * d * density + 4 * L * T * d + 2 * d * V
    return forward(1.0), forward(1.0 - s)


def test(workdir):
    out = ok(["flops"])
    check("needs 2.5x fewer FLOPs" in out, "GPT-3 XL at 75 %% should give 2.5x: %r" % out)
    r = ok_json(["flops", "--layers", "24", "--width", "2048", "--heads", "16", "--context", "2048",
                 "--vocab", "50257", "--sparsity", "0.75", "--batch", "4"])
    dense, sparse = formula(24, 2048, 2048, 50257, 0.75)
    check(abs(r["forward_per_token_dense"] / dense - 1) < 1e-9, "dense forward: %r vs %r" % (r, dense))
    check(abs(r["forward_per_token_sparse"] / sparse - 1) < 1e-6, "sparse forward: %r vs %r" % (r, sparse))
    check(abs(r["train_per_token_dense"] / (3 * r["forward_per_token_dense"]) - 1) < 1e-12, "training = 3 x forward")
    check(abs(r["train_per_step_dense"] / (4 * 2048 * r["train_per_token_dense"]) - 1) < 1e-12, "a step is B x T tokens")
    check(abs(r["reduction"] - 2.5) < 0.01, "reduction %r" % r["reduction"])
    small = ok_json(["flops", "--layers", "12", "--width", "768", "--heads", "12", "--context", "1024"])
    check(1.2 < small["reduction"] < 2.0, "GPT-2 Small gains much less: %r" % small["reduction"])


main(test)
