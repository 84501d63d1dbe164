#!/usr/bin/env python3
"""Rebuilds examples/data/e2e/trainset.csv from the tokenised E2E training set.

The official trainset.csv is not available here; harvardnlp's e2e_aligned.tar.gz holds the same
42061 pairs tokenised (PTB style, `£ 30 .`, `isn 't`, `family - friendly`) with span annotations.
This script undoes the tokenisation and writes the E2E challenge's CSV format (header `mr,ref`,
every field quoted), keeping the first --pairs pairs in file order.  Run with --check to measure
the detokenisation on the development set, whose original text is devset.csv.

usage: e2e_trainset.py ARCHIVE OUT.csv [--pairs N]
       e2e_trainset.py ARCHIVE --check DEVSET.csv
"""
import argparse
import csv
import re
import sys
import tarfile

SLOT_NAMES = {"customerrating": "customer rating"}


def detokenise(text):
    text = text.split(" <eos>")[0].strip()
    text = re.sub(r"£ ", "£", text)
    text = re.sub(r" - ", "-", text)
    text = re.sub(r"(\S)- £", r"\1-£", text)
    text = re.sub(r" '(s|t|re|ll|ve|m|d)\b", r"'\1", text)
    text = re.sub(r" ([.,!?;:%)])", r"\1", text)
    text = re.sub(r"\( ", "(", text)
    return text


def mr_from_source(line):
    slots = re.findall(r"__start_(\w+)__ (.*?) __end_\1__", line)
    parts = []
    for slot, value in slots:
        value = re.sub(r"£ ", "£", value).replace(" - ", "-")
        parts.append("%s[%s]" % (SLOT_NAMES.get(slot, slot), value))
    return ", ".join(parts)


def read_pairs(archive, split):
    with tarfile.open(archive) as tar:
        src = tar.extractfile("e2e_aligned/src_%s.txt" % split).read().decode("utf-8").splitlines()
        tgt = tar.extractfile("e2e_aligned/%s.txt" % split).read().decode("utf-8").splitlines()
    if len(src) != len(tgt):
        sys.exit("e2e_trainset.py: %d MRs but %d texts in the %s split" % (len(src), len(tgt), split))
    return [(mr_from_source(s), detokenise(t)) for s, t in zip(src, tgt)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--pairs", type=int, default=0, help="keep the first N pairs (0: all)")
    parser.add_argument("--check", metavar="DEVSET", help="compare the detokenised dev split with devset.csv")
    args = parser.parse_args()
    if args.check:
        pairs = read_pairs(args.archive, "valid")
        with open(args.check, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        mr_same = sum(p[0] == r["mr"] for p, r in zip(pairs, rows))
        text_same = sum(p[1] == " ".join(r["ref"].split()) for p, r in zip(pairs, rows))
        print("dev pairs %d: MR identical %d (%.1f %%), text identical %d (%.1f %%)" % (
            len(rows), mr_same, 100.0 * mr_same / len(rows), text_same, 100.0 * text_same / len(rows)))
        return
    if not args.out:
        parser.error("OUT.csv is required without --check")
    pairs = read_pairs(args.archive, "train")
    if args.pairs > 0:
        pairs = pairs[: args.pairs]
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        f.write("mr,ref\r\n")  # the header as in devset.csv
        csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(pairs)
    print("wrote %d pairs to %s" % (len(pairs), args.out))


if __name__ == "__main__":
    main()
