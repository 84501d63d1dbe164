"""spdf tokenize: text -> byte-level token file in both formats, read back here independently of
libspdf (docs/token-format.md), and round-tripped to the same bytes."""
import os
import struct

from clitest import check, main, ok, run


def read_tokens(path):
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack("<256i", data[:1024])
    if header[0] == 20240520:
        check(header[1] == 1, "u16 version")
        count = header[2]
        check(len(data) == 1024 + 2 * count, "u16 size")
        return "u16", list(struct.unpack("<%dH" % count, data[1024:]))
    check(data[:4] == b"SPDT", "unknown magic %r" % data[:4])
    check(header[1] == 1 and header[4] == 4, "u32 version and width")
    count = header[2] | header[3] << 32
    check(len(data) == 1024 + 4 * count, "u32 size")
    tokens = list(struct.unpack("<%dI" % count, data[1024:]))
    check(header[5] == (max(tokens) + 1 if tokens else 0), "u32 vocabulary bound")
    return "u32", tokens


def test(workdir):
    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n"
            "Caf\u00e9 \u00a320, na\u00efve \u2014 \U0001F600\r\n").encode("utf-8") + bytes(range(256))
    source = os.path.join(workdir, "input.txt")
    with open(source, "wb") as f:
        f.write(text)
    for fmt in ("u16", "u32"):
        out = os.path.join(workdir, "tokens." + fmt)
        args = ["tokenize", source, out] + (["--format", fmt] if fmt == "u32" else [])
        printed = ok(args)
        check(str(len(text)) in printed, "tokenize reports the count: %r" % printed)
        kind, tokens = read_tokens(out)
        check(kind == fmt, "format %s written as %s" % (fmt, kind))
        check(bytes(tokens) == text, "%s: the tokens are not the bytes of the text" % fmt)
    empty = os.path.join(workdir, "empty.txt")
    open(empty, "wb").close()
    ok(["tokenize", empty, os.path.join(workdir, "empty.u16")])
    check(read_tokens(os.path.join(workdir, "empty.u16"))[1] == [], "an empty text gives no tokens")
    code, _, _ = run(["tokenize", source, os.path.join(workdir, "no-such-dir", "x.u16")])
    check(code == 1, "an unwritable output is a runtime failure (exit 1), got %d" % code)

    # BPE: train a tokenizer on a text, then tokenize with it; more text per id, same bytes back
    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("The Eagle is a coffee shop near the river. The Eagle serves cheap food.\n" * 40)
    tokenizer = os.path.join(workdir, "tok.bin")
    out = os.path.join(workdir, "bpe.u32")
    printed = ok(["tokenize", corpus, out, "--format", "u32", "--tokenizer", tokenizer, "--bpe-vocab", "300"])
    check("vocabulary 300" in printed, "tokenize reports the tokenizer's size: %r" % printed)
    _, tokens = read_tokens(out)
    check(0 < len(tokens) < os.path.getsize(corpus) / 4 and max(tokens) >= 257, "BPE ids: %d" % len(tokens))
    again = os.path.join(workdir, "again.u32")
    ok(["tokenize", corpus, again, "--format", "u32", "--tokenizer", tokenizer])
    check(read_tokens(again)[1] == tokens, "a saved tokenizer encodes as the one just trained")
    code, _, err = run(["tokenize", corpus, again, "--bpe-vocab", "300"])
    check(code == 2 and "--tokenizer" in err, "--bpe-vocab without --tokenizer is a usage error")
    code, _, err = run(["tokenize", corpus, again, "--tokenizer", corpus])
    check(code == 3 and "tokenizer" in err, "a file that is not a tokenizer is bad input (3): %d %r" % (code, err))


main(test)
