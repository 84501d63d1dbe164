"""Gradient traffic of `spdf pretrain` under mpirun (docs/distributed.md): for the small and GPT-2
124M shapes, dense and 75 % sparse, one process with 2 threads against 2 ranks x 1 thread on this
machine (shared-memory loopback).  Prints, per case, the bytes each rank hands MPI_Allreduce per
step (counted in the tool's MPI layer), the allreduce time per step, the step time, and a scaling
estimate for N machines on 10 and 100 Gbit/s: a ring allreduce moves 2 (N-1)/N of the buffer in
and out of every machine, and with the global batch fixed each machine computes 1/N of it.

usage: python3 bench_mpi.py SPDF [--steps N] [--shape small|gpt2]..."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

SHAPES = {
    "small": ["--vocab", "256", "--layers", "6", "--heads", "6", "--width", "384", "--batch", "8", "--context", "128"],
    "gpt2": ["--vocab", "50304", "--layers", "12", "--heads", "12", "--width", "768", "--batch", "4",
             "--context", "64"],
}
NETWORKS = (("10 Gbit/s", 10e9 / 8), ("100 Gbit/s", 100e9 / 8))
LATENCY = 20e-6  # per message hop, a typical TCP figure; a ring allreduce takes 2 (N-1) hops


def corpus(directory):
    path = os.path.join(directory, "corpus.txt")
    text = open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data", "tinyshakespeare",
                             "input.txt"), encoding="utf-8").read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def run(command, env):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (result.returncode, " ".join(command), result.stderr[-2000:]))
    return result.stdout


def step_ms(log):
    """Median wall time of the steps after the first (the first plans kernels, touches pages)."""
    import json
    times = [json.loads(line)["elapsed_s"] for line in open(log) if '"event":"step"' in line.replace(" ", "")]
    deltas = sorted(b - a for a, b in zip(times, times[1:]))
    return 1e3 * deltas[len(deltas) // 2] if deltas else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("spdf")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES))
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("OMPI_MCA_btl", "self,vader")
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    mpirun = ["mpirun", "-np", "2", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    print("CPU: %s, %d cores" % (cpu, os.cpu_count()))
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        data = corpus(directory)
        for shape in args.shape or ["small", "gpt2"]:
            for sparsity in ("0", "0.75"):
                flags = ["pretrain", "--data", data, "--steps", str(args.steps), "--eval-every", "0",
                         "--val-fraction", "0", "--warmup", "1", "--sparsity", sparsity] + SHAPES[shape]
                single_log, multi_log = (os.path.join(directory, n) for n in ("single.jsonl", "multi.jsonl"))
                for log in (single_log, multi_log):
                    if os.path.exists(log):
                        os.unlink(log)
                run([args.spdf] + flags + ["--threads", "2", "--out", os.path.join(directory, "a.ckpt"),
                                           "--log", single_log], env)
                out = run(mpirun + [args.spdf] + flags + ["--threads", "1", "--out",
                                                          os.path.join(directory, "b.ckpt"), "--log", multi_log], env)
                m = re.search(r"gradients: ([\d.]+) MB per rank per step .*?, ([\d.]+) ms per step", out)
                if not m:
                    sys.exit("no traffic line in:\n" + out)
                rows.append((shape, sparsity, float(m.group(1)) * 1e6, float(m.group(2)) / 1e3,
                             step_ms(single_log) / 1e3, step_ms(multi_log) / 1e3))
    print("\n| shape | sparsity | bytes per rank per step | allreduce per step (2 ranks, loopback) | "
          "step, 1 process x 2 threads | step, 2 ranks x 1 thread |")
    print("|---|---|---|---|---|---|")
    for shape, sparsity, size, reduce, single, multi in rows:
        print("| %s | %s %% | %.2f MB | %.1f ms | %.1f ms | %.1f ms |" %
              (shape, int(float(sparsity) * 100), size / 1e6, reduce * 1e3, single * 1e3, multi * 1e3))
    print("\nScaling estimate, the global batch fixed (each machine computes 1/N of the measured "
          "1-process step), ring allreduce 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x %g us:" % (LATENCY * 1e6))
    print("\n| shape | sparsity | network | communication per step at N=8 | N at which communication exceeds compute |")
    print("|---|---|---|---|---|")
    for shape, sparsity, size, _, single, _ in rows:
        for name, bandwidth in NETWORKS:
            comm = lambda n: 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * LATENCY
            crossing = next((n for n in range(2, 4097) if comm(n) > single / n), None)
            print("| %s | %s %% | %s | %.1f ms | %s |" % (shape, int(float(sparsity) * 100), name, comm(8) * 1e3,
                                                         crossing if crossing else "> 4096"))


main()
