"""spdf export and spdf import, and safetensors or llm.c weights given to spdf finetune --init: a
tiny pre-trained model goes to safetensors and back with identical weights (the second export is
byte for byte the first) and identical evaluation and generation; an llm.c file written here from
those weights imports to the same model; sparse models export their dense view; files of the
wrong kind get one-line errors."""
import json
import os
import struct

from clitest import (EXIT_BAD_INPUT, EXIT_USAGE, TINY_MODEL, check, error, example_data, main, ok, ok_json,
                     read_jsonl, tiny_corpus)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def safetensors_tensors(path):
    """(metadata, {name: (shape, floats)}) of a safetensors file, read independently."""
    data = read(path)
    (length,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    start = 8 + length
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        count = (end - begin) // 4
        tensors[name] = (entry["shape"], struct.unpack_from("<%df" % count, data, start + begin))
    return metadata, tensors


def transposed(shape, values):
    rows, cols = shape
    return [values[r * cols + c] for c in range(cols) for r in range(rows)]


def write_llmc(path, metadata, tensors):
    """An llm.c GPT-2 checkpoint (version 3, fp32) of the same weights, as train_gpt2.c lays it out:
    256 int32 of header, then each parameter kind for all layers, linear weights (out, in)."""
    L, C, V = int(metadata["n_layer"]), int(metadata["n_embd"]), int(metadata["vocab_size"])
    T, heads = int(metadata["n_positions"]), int(metadata["n_head"])
    padded = (V + 127) // 128 * 128
    header = [20240326, 3, T, V, L, heads, C, padded] + [0] * 248
    wte = list(tensors["wte.weight"][1]) + [0.0] * ((padded - V) * C)
    arrays = [wte, tensors["wpe.weight"][1]]
    per_layer = [("ln_1.weight", False), ("ln_1.bias", False), ("attn.c_attn.weight", True),
                 ("attn.c_attn.bias", False), ("attn.c_proj.weight", True), ("attn.c_proj.bias", False),
                 ("ln_2.weight", False), ("ln_2.bias", False), ("mlp.c_fc.weight", True), ("mlp.c_fc.bias", False),
                 ("mlp.c_proj.weight", True), ("mlp.c_proj.bias", False)]
    for name, conv1d in per_layer:
        values = []
        for layer in range(L):
            shape, floats = tensors["h.%d.%s" % (layer, name)]
            values += transposed(shape, floats) if conv1d else list(floats)
        arrays.append(values)
    arrays += [tensors["ln_f.weight"][1], tensors["ln_f.bias"][1]]
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", *header))
        for values in arrays:
            f.write(struct.pack("<%df" % len(values), *values))
    return path


def without_heads(source, path):
    """The safetensors file without its "n_head" metadata (blanks keep the header's length)."""
    data = bytearray(read(source))
    (length,) = struct.unpack_from("<Q", data, 0)
    header = data[8:8 + length].decode()
    entry = ',"n_head":"2"'
    check(entry in header, "the exported metadata names the heads: %r" % header[:200])
    data[8:8 + length] = header.replace(entry, " " * len(entry)).encode()
    with open(path, "wb") as f:
        f.write(data)
    return path


def same_model(a, b, corpus, what):
    """Equal evaluation loss (to the last bit printed) and equal greedy output."""
    loss_a = ok_json(["eval", "--model", a, "--text", corpus, "--batches", "2"])["loss"]
    loss_b = ok_json(["eval", "--model", b, "--text", corpus, "--batches", "2"])["loss"]
    check(loss_a == loss_b, "%s: eval loss %r against %r" % (what, loss_a, loss_b))
    prompt = ["--prompt", "ROMEO:", "--max-new", "24"]
    out_a, out_b = ok(["generate", "--model", a] + prompt), ok(["generate", "--model", b] + prompt)
    check(out_a == out_b, "%s: generated %r against %r" % (what, out_a, out_b))


def test_round_trip(workdir, corpus):
    dense = os.path.join(workdir, "dense.ckpt")
    ok(["pretrain", "--data", corpus, "--out", dense, "--steps", "8"] + TINY_MODEL)
    exported = os.path.join(workdir, "dense.safetensors")
    out = ok(["export", dense, exported])
    check(exported in out and "dense view" not in out, "export names its output: %r" % out)
    metadata, tensors = safetensors_tensors(exported)
    check(metadata["n_layer"] == "2" and metadata["n_embd"] == "32" and metadata["n_positions"] == "160"
          and metadata["vocab_size"] == "257", "the exported configuration: %r" % metadata)
    check(tensors["h.0.attn.c_attn.weight"][0] == [32, 96], "Conv1D layout (in, out)")

    imported = os.path.join(workdir, "imported.ckpt")
    out = ok(["import", exported, imported])
    check("safetensors" in out and imported in out, "import says what it read: %r" % out)
    info, original = ok_json(["info", imported]), ok_json(["info", dense])
    for key in ("layers", "heads", "width", "max_seq_len", "vocab", "params", "stored_params"):
        check(info[key] == original[key], "imported %s: %r against %r" % (key, info[key], original[key]))
    check(info["phase"] == "dense" and not info["has_optimizer"], "an imported model has no optimizer: %r" % info)
    again = os.path.join(workdir, "again.safetensors")
    ok(["export", imported, again])
    check(read(again) == read(exported), "export -> import -> export gives the same bytes (the same weights)")
    same_model(dense, imported, corpus, "imported from safetensors")

    llmc = write_llmc(os.path.join(workdir, "model.bin"), metadata, tensors)
    from_llmc = os.path.join(workdir, "llmc.ckpt")
    check("llmc" in ok(["import", llmc, from_llmc]), "import tells llm.c files by their magic")
    ok(["export", from_llmc, again])
    check(read(again) == read(exported), "an llm.c file of the same weights imports to the same model")
    ok(["import", llmc, from_llmc, "--format", "llmc"])

    headless = without_heads(exported, os.path.join(workdir, "headless.safetensors"))
    error(["import", headless, os.path.join(workdir, "x.ckpt")], EXIT_USAGE, "--heads")
    ok(["import", headless, from_llmc, "--heads", "2"])
    ok(["export", from_llmc, again])
    check(read(again) == read(exported), "--heads supplies the missing metadata")
    return dense, exported, imported, llmc


def test_sparse(workdir, corpus):
    sparse = os.path.join(workdir, "sparse.ckpt")
    ok(["pretrain", "--data", corpus, "--out", sparse, "--steps", "4", "--sparsity", "0.75"] + TINY_MODEL)
    exported = os.path.join(workdir, "sparse.safetensors")
    out = ok(["export", sparse, exported])
    check("dense view" in out, "exporting a sparse model says that its dense view is written: %r" % out)
    info = ok_json(["info", sparse])
    zeros = sum(v == 0.0 for name, (shape, values) in safetensors_tensors(exported)[1].items()
                for v in values if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")))
    check(zeros >= info["params"] - info["stored_params"], "the masked weights are written as zeros")
    imported = os.path.join(workdir, "sparse-imported.ckpt")
    ok(["import", exported, imported])
    check(ok_json(["info", imported])["phase"] == "dense", "the dense view imports as a dense model")
    again = os.path.join(workdir, "sparse-again.safetensors")
    ok(["export", imported, again])
    check(read(again) == read(exported), "the dense view goes back and forth unchanged")


def test_finetune_init(workdir, exported, imported, llmc):
    task = os.path.join(example_data(), "e2e", "devset.csv")
    common = ["--task", task, "--items", "8", "--steps", "4", "--batch", "2", "--warmup", "1"]
    logs = {}
    for name, init in (("checkpoint", imported), ("safetensors", exported), ("llmc", llmc)):
        log = os.path.join(workdir, "ft-%s.jsonl" % name)
        out = ok(["finetune", "--init", init, "--out", os.path.join(workdir, "ft-%s.ckpt" % name),
                  "--log", log] + common)
        if name != "checkpoint":
            check("imported the %s weights" % name in out, "finetune --init says what it imported: %r" % out)
        logs[name] = [r["loss"] for r in read_jsonl(log) if r["event"] == "step"]
    check(len(logs["checkpoint"]) == 4, "four fine-tuning steps logged: %r" % logs)
    check(logs["safetensors"] == logs["checkpoint"] and logs["llmc"] == logs["checkpoint"],
          "--init of safetensors or llm.c weights fine-tunes exactly as their imported checkpoint: %r" % logs)


def test_generate_eval(workdir, corpus, exported, imported, llmc):
    """generate and eval take safetensors and llm.c weights as --model, and give what the imported
    checkpoint gives (bytes as tokens: the model has 257 ids)."""
    outputs = {}
    for name, model in (("checkpoint", imported), ("safetensors", exported), ("llmc", llmc)):
        text = ok(["generate", "--model", model, "--prompt", "ROMEO:", "--max-new", "12"])
        loss = ok_json(["eval", "--model", model, "--text", corpus, "--batches", "2"])["loss"]
        outputs[name] = (text, loss)
    check(outputs["safetensors"] == outputs["checkpoint"] and outputs["llmc"] == outputs["checkpoint"],
          "generate and eval of safetensors or llm.c weights differ from their imported checkpoint: %r" % outputs)
    error(["generate", "--model", corpus, "--prompt", "x"], EXIT_BAD_INPUT,
          "neither a libspdf checkpoint nor a safetensors or llm.c file")


def test_wrong_files(workdir, corpus, dense):
    out = os.path.join(workdir, "out.ckpt")
    error(["import", dense, out], EXIT_USAGE, "already a libspdf checkpoint")
    error(["import", corpus, out], EXIT_BAD_INPUT, "neither a safetensors file nor an llm.c checkpoint")
    error(["import", dense, out, "--format", "safetensors"], EXIT_BAD_INPUT,
          "not a safetensors file: it is a libspdf checkpoint")
    error(["import", corpus, out, "--format", "llmc"], EXIT_BAD_INPUT, "llm.c")
    error(["import", os.path.join(workdir, "absent.safetensors"), out], EXIT_BAD_INPUT, "absent.safetensors")
    error(["export", corpus, os.path.join(workdir, "x.safetensors")], EXIT_BAD_INPUT)
    error(["export", dense, os.path.join(workdir, "no", "such", "dir.safetensors")], 1)
    task = os.path.join(example_data(), "e2e", "devset.csv")
    error(["finetune", "--init", corpus, "--task", task, "--out", out], EXIT_BAD_INPUT,
          "neither a libspdf checkpoint nor a safetensors or llm.c file")
    error(["export", dense], EXIT_USAGE)


def test(workdir):
    corpus = tiny_corpus(workdir)
    dense, exported, imported, llmc = test_round_trip(workdir, corpus)
    test_sparse(workdir, corpus)
    test_finetune_init(workdir, exported, imported, llmc)
    test_generate_eval(workdir, corpus, exported, imported, llmc)
    test_wrong_files(workdir, corpus, dense)


main(test)
