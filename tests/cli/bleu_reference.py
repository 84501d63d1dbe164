"""A small, independent re-implementation of corpus BLEU and NIST as the official E2E NLG scorer
computes them (mteval-v13a-sig.pl driven by measure_scores.py): lowercase, v13a tokenisation, a
varying number of references per segment, closest reference length (the shorter on a tie), BLEU-4
with mteval's smoothing of orders without matches, NIST-5 with information weights from all
references.  Used by the CLI tests to check `spdf score` on hand-made files."""
import math
import re
from collections import Counter


def tokenize(text):
    text = text.lower().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    text = text.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = " %s " % text
    text = re.sub(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 ", text)
    text = re.sub(r"([^0-9])([\.,])", r"\1 \2 ", text)
    text = re.sub(r"([\.,])([^0-9])", r" \1 \2", text)
    text = re.sub(r"([0-9])(-)", r"\1 \2 ", text)
    return text.split()


def ngrams(words, n):
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_scores(hypotheses, references, bleu_order=4, nist_order=5):
    """hypotheses: list of strings; references: list (one per hypothesis) of lists of strings.
    Returns (bleu, nist)."""
    hyps = [tokenize(h) for h in hypotheses]
    refs = [[w for w in (tokenize(r) for r in rs) if w] for rs in references]

    # BLEU
    matches, totals = [0] * bleu_order, [0] * bleu_order
    hyp_length = ref_length = 0
    for hyp, rs in zip(hyps, refs):
        hyp_length += len(hyp)
        if rs:
            ref_length += min((abs(len(r) - len(hyp)), len(r)) for r in rs)[1]
        for n in range(1, bleu_order + 1):
            counts = ngrams(hyp, n)
            best = Counter()
            for r in rs:
                for gram, c in ngrams(r, n).items():
                    best[gram] = max(best[gram], c)
            matches[n - 1] += sum(min(c, best[gram]) for gram, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    log_sum, smooth = 0.0, 1.0
    for n in range(bleu_order):
        if totals[n] == 0:
            return 0.0, 0.0
        if matches[n] == 0:
            smooth *= 2
            log_sum += math.log(1.0 / (smooth * totals[n]))
        else:
            log_sum += math.log(matches[n] / totals[n])
    brevity = min(0.0, 1.0 - ref_length / hyp_length) if hyp_length else -math.inf
    bleu = math.exp(log_sum / bleu_order + brevity)

    # NIST: information weights from every reference n-gram of the corpus
    counts = Counter()
    words = 0
    for rs in refs:
        for r in rs:
            words += len(r)
            for n in range(1, nist_order + 1):
                counts.update(ngrams(r, n))
    def info(gram):
        prefix = counts[gram[:-1]] if len(gram) > 1 else words
        return -math.log(counts[gram] / prefix, 2)
    info_sum, hyp_grams = [0.0] * nist_order, [0] * nist_order
    for hyp, rs in zip(hyps, refs):
        for n in range(1, nist_order + 1):
            best = Counter()
            for r in rs:
                for gram, c in ngrams(r, n).items():
                    best[gram] = max(best[gram], c)
            for gram, c in ngrams(hyp, n).items():
                hyp_grams[n - 1] += c
                matched = min(c, best[gram])
                if matched:
                    info_sum[n - 1] += info(gram) * matched
    nist = sum(info_sum[n] / max(hyp_grams[n], 1) for n in range(nist_order))
    all_refs = [r for rs in refs for r in rs]
    nist_ref_length = len(refs) * (sum(len(r) for r in all_refs) / len(all_refs))
    ratio = hyp_length / nist_ref_length
    if ratio < 1:
        beta = -math.log(0.5) / math.log(1.5) ** 2
        nist *= math.exp(-beta * math.log(ratio) ** 2) if ratio > 0 else 0.0
    return bleu, nist
