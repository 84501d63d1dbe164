#!/usr/bin/env python3
"""Tests of the ctypes binding examples/python/spdf.py against the built library (SPDF_LIBRARY):
every SPDF_API function of include/spdf.h is bound, struct layouts agree with the library's, the
wrapped calls work and fail with the right SpdfError, and an exported safetensors file computes
the library's logits when evaluated with Hugging Face GPT-2's semantics in plain Python.

Standard library only: python3 tests/python/test_binding.py"""

import array
import ctypes
import importlib.util
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BINDING = os.path.join(ROOT, "examples", "python", "spdf.py")
HEADER = os.path.join(ROOT, "include", "spdf.h")


def import_by_path(path, name="spdf"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


spdf = import_by_path(BINDING)


def header_functions(path):
    """The SPDF_API function names of the header (comments and directives left out)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("#"))
    return [re.search(r"([A-Za-z_]\w*)\s*\(", m.group(1)).group(1)
            for m in re.finditer(r"\bSPDF_API\b([^;{}]*)[;{]", text)]


def small_model(ctx, **overrides):
    fields = dict(vocab_size=64, max_seq_len=16, num_layers=2, num_heads=2, channels=16, seed=3)
    fields.update(overrides)
    return spdf.Model(ctx, **fields)


def pattern(n, vocab=64, seed=1):
    """Deterministic ids with structure a model can learn."""
    return array.array("i", [(i * 7 + seed) % vocab if i % 3 else (i // 3) % vocab
                             for i in range(n)])


class BindingCoverage(unittest.TestCase):
    def test_every_header_function_is_bound(self):
        names = header_functions(HEADER)
        self.assertGreater(len(names), 80)
        missing = [n for n in names if n not in spdf.PROTOTYPES]
        self.assertEqual(missing, [], "functions of include/spdf.h without a prototype in spdf.py")
        for name in names:  # each binds against the library under test
            self.assertTrue(callable(getattr(spdf.lib, name)), name)
        stale = sorted(set(spdf.PROTOTYPES) - set(names))
        self.assertEqual(stale, [], "prototypes of functions the header no longer declares")

    def test_every_header_function_is_documented(self):
        with open(os.path.join(ROOT, "docs", "api-reference.md"), encoding="utf-8") as f:
            reference = f.read()
        missing = [n for n in header_functions(HEADER) if not re.search(rf"\b{n}\b", reference)]
        self.assertEqual(missing, [], "functions of include/spdf.h not in docs/api-reference.md")

    def test_config_structs_match_the_library(self):
        # The library's config_init writes the size it was compiled with.
        for cls in (spdf.ContextConfig, spdf.ModelConfig, spdf.OptimizerConfig, spdf.MaskConfig,
                    spdf.TransitionConfig, spdf.GenerateConfig, spdf.BleuOptions,
                    spdf.ImportConfig, spdf.DropoutConfig):
            raw = (ctypes.c_char * (ctypes.sizeof(cls) + 64))()
            getattr(spdf.lib, cls._init)(ctypes.cast(raw, ctypes.POINTER(cls)))
            reported = ctypes.cast(raw, ctypes.POINTER(ctypes.c_size_t)).contents.value
            self.assertEqual(reported, ctypes.sizeof(cls), cls.__name__)

    def test_output_structs_match_the_library(self):
        # An output struct reports the smaller of the caller's and the library's size.
        with spdf.Context() as ctx, small_model(ctx) as model:
            calls = ((spdf.TensorInfo,
                      lambda p: spdf.lib.spdf_model_tensor_info(model.handle, 0, p)),
                     (spdf.ModelConfig,
                      lambda p: spdf.lib.spdf_model_get_config(model.handle, p)))
            for cls, call in calls:
                raw = (ctypes.c_char * (ctypes.sizeof(cls) + 64))()
                size = ctypes.cast(raw, ctypes.POINTER(ctypes.c_size_t))
                size.contents.value = ctypes.sizeof(cls) + 64
                self.assertEqual(call(ctypes.cast(raw, ctypes.POINTER(cls))), spdf.OK)
                self.assertEqual(size.contents.value, ctypes.sizeof(cls), cls.__name__)
        info = spdf.TensorInfo()
        self.assertEqual(info.struct_size, ctypes.sizeof(spdf.TensorInfo))

    def test_defaults(self):
        self.assertEqual(spdf.ModelConfig().vocab_size, spdf.BYTE_VOCAB_SIZE)
        self.assertEqual(spdf.ImportConfig().seed, 1337)
        self.assertAlmostEqual(spdf.OptimizerConfig().learning_rate, 6e-4, places=7)
        with self.assertRaises(TypeError):
            spdf.ModelConfig(no_such_member=1)


class Basics(unittest.TestCase):
    def test_version_status_and_backends(self):
        self.assertRegex(spdf.version(), r"^\d+\.\d+\.\d+$")
        major, minor, patch = map(int, spdf.version().split("."))
        self.assertEqual(spdf.version_number(), major * 10000 + minor * 100 + patch)
        self.assertEqual(spdf.status_name(spdf.EINVAL), "SPDF_EINVAL")
        self.assertEqual(spdf.status_name(99), "SPDF_UNKNOWN")
        backends = dict(spdf.backends())
        self.assertTrue(backends["ref"])
        with self.assertRaises(spdf.SpdfError) as caught:
            spdf.backend_available("no-such-backend")
        self.assertEqual(caught.exception.status, spdf.EINVAL)

    def test_library_discovery(self):
        self.assertEqual(spdf.library_candidates()[0], os.environ["SPDF_LIBRARY"])
        self.assertEqual(os.path.realpath(spdf.lib.path),
                         os.path.realpath(os.environ["SPDF_LIBRARY"]))

    def test_module_works_when_copied_elsewhere(self):
        with tempfile.TemporaryDirectory() as directory:
            shutil.copy(BINDING, directory)
            code = ("import spdf; c = spdf.Context(); "
                    "print(spdf.version(), c.backend); c.close()")
            out = subprocess.run([sys.executable, "-c", code], cwd=directory, env=dict(os.environ),
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertTrue(out.stdout.startswith(spdf.version()))

    def test_byte_tokenizer(self):
        ids = spdf.byte_encode("héllo")
        self.assertEqual(list(ids), list("héllo".encode()))
        self.assertEqual(spdf.byte_decode(ids), "héllo".encode())
        self.assertEqual(spdf.byte_decode([104, spdf.TOKEN_EOT]), b"h<|endoftext|>")
        with self.assertRaises(spdf.SpdfError) as caught:
            spdf.byte_decode([300])
        self.assertEqual(caught.exception.name, "SPDF_EINVAL")

    def test_bpe_tokenizer(self):
        text = "the cheap coffee shop near the river; the coffee shop is cheap.\n" * 5
        with spdf.Tokenizer.train(text, 300) as tok:
            self.assertGreater(tok.vocab_size, 257)
            self.assertEqual(tok.end_of_text, spdf.TOKEN_EOT)
            ids = tok.encode(text)
            self.assertLess(len(ids), len(text) // 3)
            self.assertEqual(tok.decode(ids), text.encode())
            with tempfile.TemporaryDirectory() as directory:
                path = os.path.join(directory, "tok.bin")
                tok.save(path)
                with spdf.Tokenizer.load(path) as again:
                    self.assertEqual(list(again.encode(text)), list(ids))
            with self.assertRaises(spdf.SpdfError) as caught:
                tok.decode([tok.vocab_size])
            self.assertEqual(caught.exception.name, "SPDF_EINVAL")

    def test_gpt2_tokenizer(self):
        data = os.path.join(ROOT, "tests", "data", "gpt2")
        with spdf.Tokenizer.load_gpt2(os.path.join(data, "vocab.json"),
                                      os.path.join(data, "merges.txt")) as tok:
            self.assertEqual(tok.vocab_size, 300)
            self.assertEqual(tok.end_of_text, 296)  # "<|endoftext|>" in that vocab.json
            self.assertEqual(tok.decode([tok.end_of_text]), b"<|endoftext|>")
            self.assertEqual(list(tok.encode("\n")), [198])


class Errors(unittest.TestCase):
    def assertSpdfError(self, status, needle, function, *args, **kwargs):
        with self.assertRaises(spdf.SpdfError) as caught:
            function(*args, **kwargs)
        e = caught.exception
        self.assertEqual(e.status, status, str(e))
        self.assertEqual(e.name, spdf.status_name(status))
        self.assertIn(needle, e.message)
        self.assertIn(e.name, str(e))
        return e

    def test_status_codes_and_messages(self):
        self.assertSpdfError(spdf.EUNSUPPORTED, "unknown backend", spdf.Context, backend="nope")
        with spdf.Context() as ctx:
            self.assertSpdfError(spdf.EINVAL, "num_heads", small_model, ctx, num_heads=3)
            self.assertSpdfError(spdf.EIO, "missing.bin", spdf.Dataset.load,
                                 os.path.join(tempfile.gettempdir(), "missing.bin"))
            model = small_model(ctx)
            self.assertSpdfError(spdf.ESTATE, "forward", model.backward)
            self.assertSpdfError(spdf.EINVAL, "no tensor named", model.tensor_find, "nope")
            self.assertSpdfError(spdf.EINVAL, "outside the vocabulary", model.forward,
                                 [64] * 8, [0] * 8, T=8)
            opt = spdf.Optimizer(model)
            mask = spdf.Mask(model, spdf.MASK_RANDOM, 0.5, 1)
            phase = spdf.Phase(model, opt, spdf.PHASE_SPARSE, mask)
            self.assertSpdfError(spdf.ESTATE, "compactly", model.tensor_data,
                                 "h.0.attn.c_attn.weight")
            self.assertSpdfError(spdf.ESTATE, "", phase.transition, spdf.PHASE_SPARSE, mask)
            with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
                f.write(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
                f.flush()
                e = self.assertSpdfError(spdf.EFORMAT, "no transformer blocks",
                                         spdf.Model.import_safetensors, ctx, f.name)
                self.assertIn(f.name, e.message)
                self.assertEqual(e.function, "spdf_model_import_safetensors")
                self.assertSpdfError(spdf.EFORMAT, "too few", spdf.Model.import_llmc, ctx, f.name)
            # The detail is cleared by the next successful call.
            self.assertEqual(model.num_tensors, 28)
            self.assertEqual(spdf.last_error(), "")

    def test_buffer_checks(self):
        with spdf.Context() as ctx, small_model(ctx) as model:
            with self.assertRaises(TypeError):
                model.forward(array.array("d", [0.0] * 8), T=8)
            with self.assertRaises(ValueError):
                model.forward([1, 2, 3], [1, 2], T=3)
            with self.assertRaises(ValueError):
                model.tensor_read(0, out=array.array("f", [0.0]))
            with self.assertRaises(TypeError):
                model.tensor_read(0, out=bytes(4 * 64 * 16))  # read-only

    def test_closed_handles(self):
        ctx = spdf.Context()
        model = small_model(ctx)
        opt = spdf.Optimizer(model)
        phase = spdf.Phase(model, opt, spdf.PHASE_DENSE)
        ctx.close()  # closes what was made from it first
        self.assertTrue(model.closed and opt.closed and phase.closed)
        with self.assertRaises(ValueError):
            model.num_params
        ctx.close()  # twice is fine


class Training(unittest.TestCase):
    def test_spdf_workflow(self):
        with spdf.Context() as ctx:
            model = small_model(ctx)
            opt = spdf.Optimizer(model, learning_rate=3e-3, warmup_steps=2, total_steps=40)
            data = spdf.Dataset.from_tokens(pattern(2000))
            self.assertEqual(len(data), 2000)
            self.assertEqual(data.vocab_bound, 64)
            sampler = spdf.Sampler(data, 4, 16, seed=5)
            mask = spdf.Mask(model, spdf.MASK_RANDOM, 0.75, 9)
            self.assertEqual(model.sparse_memory, spdf.SPARSE_MEMORY_KEEP)
            model.sparse_memory = spdf.SPARSE_MEMORY_RELEASE
            self.assertEqual(model.sparse_memory, spdf.SPARSE_MEMORY_RELEASE)
            with self.assertRaises(spdf.SpdfError):
                model.sparse_memory = 7
            plan = model.sparse_plan
            self.assertEqual(plan.mode, spdf.SPARSE_PLAN_ESTIMATE)
            self.assertEqual(plan.forward, spdf.SPARSE_KERNEL_AUTO)
            model.sparse_plan = spdf.SparsePlanConfig(backward_weight=spdf.SPARSE_KERNEL_DENSE)
            with self.assertRaises(spdf.SpdfError):
                model.sparse_plan = spdf.SparsePlanConfig(mode=9)
            phase = spdf.Phase(model, opt, spdf.PHASE_SPARSE, mask)
            self.assertEqual(phase.kind, spdf.PHASE_SPARSE)
            info = model.sparse_kernel_info(0)
            self.assertEqual(info.backward_weight, spdf.SPARSE_KERNEL_DENSE)
            self.assertEqual(info.forward, spdf.SPARSE_KERNEL_INDEX)  # 75 % sparse
            self.assertEqual(info.planned_by, spdf.SPARSE_PLANNED_ESTIMATE)
            self.assertIn(info.isa, (b"avx512", b"avx2", b"portable"))
            nnz, total = mask.totals()
            self.assertEqual(nnz, total // 4)
            self.assertEqual(mask.num_layers, 8)
            self.assertEqual(sum(mask.layer_read(0)), mask.layer(0).nnz)
            losses = []
            for _ in range(20):
                inputs, targets = sampler.next()
                losses.append(model.forward(inputs, targets, B=4, T=16))
                model.backward()
                norm, lr = opt.step()
                self.assertTrue(math.isfinite(norm) and lr > 0)
            self.assertLess(sum(losses[-5:]) / 5, sum(losses[:5]) / 5)
            self.assertEqual(sampler.position, 20)
            self.assertEqual(opt.step_count, 20)
            phase.transition(spdf.PHASE_DENSE, restart_schedule=1,
                             optimizer=spdf.OptimizerConfig(learning_rate=1e-3))
            self.assertEqual(opt.step_count, 0)
            self.assertAlmostEqual(opt.config.learning_rate, 1e-3, places=7)
            inputs, targets = sampler.next()
            model.forward(inputs, targets, B=4, T=16)
            model.backward()
            grad = model.tensor_grad_read("h.0.attn.c_attn.weight")
            self.assertEqual(len(grad), 48 * 16)
            opt.step()
            loss, perplexity = model.evaluate(data, 4, 16, 2)
            self.assertAlmostEqual(perplexity, math.exp(loss), places=3)
            report = model.flops(16, 4)
            self.assertEqual(report.reduction, 1.0)
            self.assertGreater(spdf.flops(model.config, 16, 4, 0.75).reduction, 1.0)

    def test_dropout(self):
        with spdf.Context() as ctx, small_model(ctx) as model:
            ids = pattern(64)
            inputs, targets = ids[:-1][:48], ids[1:][:48]
            self.assertEqual(model.dropout.embedding, 0.0)  # off by default
            plain = model.forward(inputs, targets, B=3, T=16)
            config = spdf.DropoutConfig(embedding=0.2, attention=0.2, residual=0.2, seed=7)
            model.dropout = config
            dropped = model.forward(inputs, targets, B=3, T=16)
            self.assertNotEqual(dropped, plain)
            self.assertEqual(model.dropout.forward_count, 1)
            # the same seed and counter replay the same masks; an evaluation pass drops nothing
            model.dropout = config
            self.assertEqual(model.forward(inputs, targets, B=3, T=16), dropped)
            self.assertEqual(model.forward_eval(inputs, targets, B=3, T=16), plain)
            self.assertEqual(model.dropout.forward_count, 1)
            with self.assertRaises(spdf.SpdfError):
                model.dropout = spdf.DropoutConfig(attention=1.0)

    def test_buffers_of_every_kind(self):
        with spdf.Context() as ctx, small_model(ctx) as model:
            ids = pattern(32)
            targets = pattern(32, seed=2)
            reference = model.forward(ids, targets, T=16)
            raw = ids.tobytes()
            ctypes_ids = (ctypes.c_int32 * 32)(*ids)
            for tokens in (list(ids), memoryview(ids), raw, bytearray(raw), ctypes_ids):
                self.assertEqual(model.forward(tokens, targets, T=16), reference)
            shaped = memoryview(raw).cast("i", (2, 16))  # B and T from a 2-D buffer
            self.assertEqual(model.forward(shaped, targets), reference)
            weights = array.array("f", [1.0] * 32)
            self.assertEqual(model.forward(ids, targets, weights, B=2, T=16), reference)
            self.assertIsNone(model.forward(ids, T=16))
            logits = model.logits()
            self.assertEqual(logits.shape, (2, 16, 64))
            borrowed = model.logits(copy=False)
            self.assertEqual(logits.tolist(), borrowed.tolist())
            values = model.tensor_read("wte")
            values[0] = 0.5
            model.tensor_write(0, values)
            self.assertEqual(model.tensor_data(0)[0, 0], 0.5)
            self.assertEqual(model.tensor_read(0)[0], 0.5)

    def test_generate(self):
        with spdf.Context() as ctx:
            model = spdf.Model(ctx, max_seq_len=32, num_layers=1, num_heads=2, channels=16)
            greedy = model.generate("ab", max_new_tokens=5, stop_token=-1)
            self.assertEqual(len(greedy), 5)
            self.assertEqual(greedy, model.generate(b"ab", max_new_tokens=5, stop_token=-1))
            config = spdf.GenerateConfig(strategy=spdf.DECODE_SAMPLE, max_new_tokens=4, seed=3,
                                         stop_token=-1, stop_sequence="\n")
            self.assertEqual(model.generate([97, 98], config), model.generate([97, 98], config))

    def test_checkpoint_round_trip(self):
        with spdf.Context() as ctx, tempfile.TemporaryDirectory() as directory:
            model = small_model(ctx)
            opt = spdf.Optimizer(model)
            data = spdf.Dataset.from_tokens(pattern(500))
            sampler = spdf.Sampler(data, 2, 16, seed=1)
            inputs, targets = sampler.next()
            model.forward(inputs, targets, B=2, T=16)
            model.backward()
            opt.step()
            path = os.path.join(directory, "run.ckpt")
            spdf.checkpoint_save(path, model, opt, sampler)
            info = spdf.checkpoint_info(path)
            self.assertEqual((info.step, info.has_optimizer, info.has_sampler), (1, 1, 1))
            self.assertEqual(info.model.channels, 16)
            sampler.position = 0
            loaded, loaded_opt, loaded_phase = spdf.checkpoint_load(path, ctx, optimizer=True,
                                                                    phase=True, sampler=sampler)
            self.assertEqual(sampler.position, 1)
            self.assertEqual(loaded_opt.step_count, 1)
            self.assertEqual(loaded_phase.kind, spdf.PHASE_DENSE)
            self.assertEqual(loaded.tensor_read(5), model.tensor_read(5))
            tokens_path = os.path.join(directory, "tokens.bin")
            spdf.tokens_save(tokens_path, range(300), spdf.TOKENS_U16)
            self.assertEqual(list(spdf.Dataset.load(tokens_path).tokens()), list(range(300)))


class Evaluation(unittest.TestCase):
    def test_bleu(self):
        bleu = spdf.Bleu()
        bleu.add("the cat sat on the mat", ["the cat sat on the mat", "a cat was on the mat"])
        bleu.add("a dog", "the dog")
        self.assertEqual(bleu.count, 2)
        result = bleu.score()
        self.assertTrue(0 < result.bleu < 1)
        self.assertEqual(result.segments, 2)
        self.assertEqual(result.max_order, 4)
        self.assertEqual(spdf.sentence_bleu("a b c d", ["a b c d"]), 1.0)
        self.assertAlmostEqual(spdf.bleu_from_stats([4, 3, 2, 1], [4, 3, 2, 1], 4, 4), 1.0)
        self.assertLess(bleu.score(tokenize=spdf.BLEU_TOKENIZE_CHAR).bleu, 1.0)
        with self.assertRaises(spdf.SpdfError):
            spdf.sentence_bleu("a", [])

    def test_task_data(self):
        path = os.path.join(ROOT, "examples", "data", "e2e", "devset.csv")
        with spdf.TaskData.load(path, spdf.TASK_E2E_CSV) as data:
            self.assertEqual(len(data), 547)
            self.assertEqual(data.pair_count, 4672)
            self.assertTrue(data.prompt(0).startswith("name["))
            refs = data.references(0)
            self.assertEqual(len(refs), data.reference_count(0))
            self.assertEqual(refs[1], data.reference(0, 1))
            self.assertEqual(data.pair(0), (data.prompt(0), refs[0]))


# ---- safetensors read independently, and GPT-2 evaluated as Hugging Face defines it ----------


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    data = blob[8 + length:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        assert info["dtype"] == "F32"
        values = array.array("f", data[begin:end])
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = (info["shape"], values)
    return metadata, tensors


def hf_gpt2_logits(metadata, tensors, ids):
    """transformers' GPT2LMHeadModel forward pass in plain Python: Conv1D y = x W + b with W of
    shape (in, out), GELU "gelu_new", LayerNorm eps 1e-5, LM head tied to wte."""
    C = int(metadata["n_embd"])
    H = int(metadata["n_head"])
    L = int(metadata["n_layer"])
    V = int(metadata["vocab_size"])
    t = lambda name: tensors[name][1]

    def conv1d(x, name):
        (n_in, n_out), W = tensors[name + ".weight"]
        b = t(name + ".bias")
        return [b[o] + sum(x[i] * W[i * n_out + o] for i in range(n_in)) for o in range(n_out)]

    def layer_norm(x, name):
        mean = sum(x) / len(x)
        var = sum((v - mean) ** 2 for v in x) / len(x)
        w, b = t(name + ".weight"), t(name + ".bias")
        return [(v - mean) / math.sqrt(var + 1e-5) * w[i] + b[i] for i, v in enumerate(x)]

    def gelu_new(x):
        return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    wte, wpe = t("wte.weight"), t("wpe.weight")
    h = [[wte[tok * C + c] + wpe[pos * C + c] for c in range(C)] for pos, tok in enumerate(ids)]
    d = C // H
    for layer in range(L):
        p = f"h.{layer}."
        qkv = [conv1d(layer_norm(x, p + "ln_1"), p + "attn.c_attn") for x in h]
        attended = []
        for i in range(len(h)):
            y = [0.0] * C
            for head in range(H):
                q = qkv[i][head * d:(head + 1) * d]
                scores = [sum(q[k] * qkv[j][C + head * d + k] for k in range(d)) / math.sqrt(d)
                          for j in range(i + 1)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                for j, w in enumerate(weights):
                    for k in range(d):
                        y[head * d + k] += w / total * qkv[j][2 * C + head * d + k]
            attended.append(y)
        h = [[a + b for a, b in zip(x, conv1d(y, p + "attn.c_proj"))] for x, y in zip(h, attended)]
        mlp = [[gelu_new(v) for v in conv1d(layer_norm(x, p + "ln_2"), p + "mlp.c_fc")] for x in h]
        h = [[a + b for a, b in zip(x, conv1d(m, p + "mlp.c_proj"))] for x, m in zip(h, mlp)]
    out = []
    for x in h:
        x = layer_norm(x, "ln_f")
        out.append([sum(x[c] * wte[v * C + c] for c in range(C)) for v in range(V)])
    return out


class Interop(unittest.TestCase):
    def test_hugging_face_semantics(self):
        with spdf.Context() as ctx, tempfile.TemporaryDirectory() as directory:
            model = small_model(ctx, max_seq_len=8)
            opt = spdf.Optimizer(model, learning_rate=1e-2)
            mask = spdf.Mask(model, spdf.MASK_RANDOM, 0.75, 4)
            phase = spdf.Phase(model, opt, spdf.PHASE_SPARSE, mask)
            for step in range(3):  # move the weights away from their initial values
                model.forward(pattern(16, seed=step), pattern(16, seed=step + 1), T=8)
                model.backward()
                opt.step()
            path = os.path.join(directory, "model.safetensors")
            model.export_safetensors(path)  # the dense view of the sparse model
            metadata, tensors = read_safetensors(path)
            self.assertEqual(metadata["format"], "pt")
            self.assertEqual(tensors["h.0.attn.c_attn.weight"][0], [16, 48])
            self.assertEqual(tensors["h.1.mlp.c_proj.weight"][0], [64, 16])
            ids = list(pattern(6, seed=11))
            expected = hf_gpt2_logits(metadata, tensors, ids)
            model.forward(ids, B=1, T=6)
            logits = model.logits()
            worst = max(abs(logits[0, i, v] - expected[i][v]) for i in range(6) for v in range(64))
            self.assertLess(worst, 1e-4)
            # The import computes the exporter's logits bit for bit once both are dense.
            imported = spdf.Model.import_safetensors(ctx, path)
            phase.transition(spdf.PHASE_DENSE)
            model.forward(ids, B=1, T=6)
            imported.forward(ids, B=1, T=6)
            self.assertEqual(imported.logits().tobytes(), model.logits().tobytes())
            config = spdf.hf_config(imported)
            self.assertEqual((config["n_layer"], config["n_head"], config["n_embd"]), (2, 2, 16))

    def test_llmc_checkpoint(self):
        # A version-3 llm.c file with V = 64 padded to Vp = 128.
        C, L, maxT, V, Vp = 16, 1, 8, 64, 128
        sizes = [Vp * C, maxT * C, L * C, L * C, L * 3 * C * C, L * 3 * C, L * C * C, L * C,
                 L * C, L * C, L * 4 * C * C, L * 4 * C, L * C * 4 * C, L * C, C, C]
        header = array.array("i", [20240326, 3, maxT, V, L, 2, C, Vp] + [0] * 248)
        values = array.array("f", [((k * 13) % 97 - 48) / 64 for k in range(sum(sizes))])
        if sys.byteorder != "little":
            header.byteswap()
            values.byteswap()
        with spdf.Context() as ctx, tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "gpt2.bin")
            with open(path, "wb") as f:
                f.write(header.tobytes() + values.tobytes())
            model = spdf.Model.import_llmc(ctx, path)
            self.assertEqual(model.config.vocab_size, V)
            self.assertEqual(list(model.tensor_read("wte")), list(values[:V * C]))
            wpe = values[Vp * C:Vp * C + maxT * C]
            self.assertEqual(list(model.tensor_read("wpe")), list(wpe))


if __name__ == "__main__":
    if "SPDF_LIBRARY" not in os.environ:
        sys.exit("set SPDF_LIBRARY to the libspdf.so under test")
    unittest.main(verbosity=2)
