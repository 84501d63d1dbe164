#!/usr/bin/env python3
"""SPDF from Python: sparse pre-training of a tiny byte-level GPT on Tiny Shakespeare with 75 % of
every block weight masked, the in-place transition to dense, and dense fine-tuning, printing the
training and validation losses.  About a minute on two cores with the defaults.

    SPDF_LIBRARY=build/lib/libspdf.so python3 examples/python/train_spdf.py
    python3 examples/python/train_spdf.py --sparsity 0 --export dense.safetensors

Options: --steps N (pre-training, 300), --finetune-steps N (100), --sparsity S (0.75; 0 trains
densely throughout), --eval-every N (50), --threads N, --data FILE, --export FILE.safetensors"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spdf  # noqa: E402  (the binding beside this script)

BATCH, CONTEXT = 8, 64
DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                            "tinyshakespeare", "input.txt")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--sparsity", type=float, default=0.75)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--export", help="write the fine-tuned model as safetensors")
    args = parser.parse_args()

    with open(args.data, "rb") as f:
        ids = spdf.byte_encode(f.read())
    split = len(ids) * 9 // 10
    ctx = spdf.Context(num_threads=args.threads)
    train = spdf.Dataset.from_tokens(ids[:split])
    val = spdf.Dataset.from_tokens(ids[split:])
    print(f"libspdf {spdf.version()} ({spdf.lib.path}), backend {ctx.backend}, "
          f"{ctx.num_threads} threads; {len(train)} training and {len(val)} validation bytes")

    model = spdf.Model(ctx, num_layers=2, num_heads=4, channels=64, max_seq_len=CONTEXT)
    opt = spdf.Optimizer(model, learning_rate=3e-3, warmup_steps=args.steps // 10,
                         total_steps=args.steps)
    sparse = args.sparsity > 0
    mask = spdf.Mask(model, spdf.MASK_RANDOM, args.sparsity, seed=7) if sparse else None
    phase = spdf.Phase(model, opt, spdf.PHASE_SPARSE if sparse else spdf.PHASE_DENSE, mask)
    if sparse:
        kept, total = mask.totals()
        print(f"mask: {kept} of {total} block weights kept ({100 * (1 - kept / total):.1f} % "
              "sparse)")
    dense_flops = spdf.flops(model.config, CONTEXT, BATCH, 0.0).train_per_step_dense
    print(f"training FLOPs per step: {model.flops(CONTEXT, BATCH).train_per_step_sparse:.3g} "
          f"(dense {dense_flops:.3g})")

    sampler = spdf.Sampler(train, BATCH, CONTEXT, seed=1)
    started = time.monotonic()

    def train_steps(count, label):
        for step in range(1, count + 1):
            inputs, targets = sampler.next()
            loss = model.forward(inputs, targets, B=BATCH, T=CONTEXT)
            model.backward()
            norm, lr = opt.step()
            if step % args.eval_every == 0 or step == count:
                val_loss, _ = model.evaluate(val, BATCH, CONTEXT, max_batches=8)
                print(f"{label:>9} step {step:4d}  loss {loss:.4f}  val {val_loss:.4f}  "
                      f"lr {lr:.2e}  grad norm {norm:.3f}  {time.monotonic() - started:.1f} s",
                      flush=True)

    train_steps(args.steps, "sparse" if sparse else "dense")
    # The SPDF transition: masked weights re-enter at zero and every weight trains from here on,
    # with a new warmup-free schedule at a lower learning rate.
    finetune = spdf.OptimizerConfig(learning_rate=1e-3, warmup_steps=0,
                                    total_steps=max(args.finetune_steps, 1))
    if sparse:
        phase.transition(spdf.PHASE_DENSE, restart_schedule=1, optimizer=finetune)
        print("transition: sparse -> dense")
    else:
        opt.restart(finetune)
    train_steps(args.finetune_steps, "fine-tune")

    sample = model.generate("ROMEO:", strategy=spdf.DECODE_SAMPLE, temperature=0.8, top_k=40,
                            seed=1, max_new_tokens=58, stop_token=-1)
    print("sample:", spdf.byte_decode(sample).decode("utf-8", "replace").replace("\n", " | "))
    if args.export:
        model.export_safetensors(args.export)
        print(f"exported {args.export}")
    ctx.close()  # frees the model, its optimizer and phase first
    return 0


if __name__ == "__main__":
    sys.exit(main())
