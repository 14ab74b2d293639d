#!/usr/bin/env python3
"""Runs bench/mpi_scaling over the grid of docs/scaling.md and writes
bench/results/mpi_scaling.json.

    python3 bench/mpi_scaling.py [build/default]

The layer is E = A = 512, H = 8, batch 1; ranks 1, 2 and 4 (4 oversubscribe
the 2 cores here), one OpenMP thread per rank; contexts 1024, 4096 and
16384; the three ways (ring, gathered, heads). Then the ring's unit of
work alone (a non-causal L x L block, every head) on 1 and 2 threads, for
the model's compute rate. Timings on a shared 2-core machine are noisy:
bytes and memory are the figures this measures exactly.
"""
import json
import os
import subprocess
import sys

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/default"
BINARY = os.path.join(BUILD, "bench", "mpi_scaling")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "mpi_scaling.json")

ENV = dict(os.environ,
           OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_pml="ob1", OMPI_MCA_btl="self,vader", OMP_NUM_THREADS="1")


def run(ranks, args, threads=1):
    env = dict(ENV, OMP_NUM_THREADS=str(threads))
    command = ["mpirun", "-q", "--oversubscribe", "-np", str(ranks), BINARY] + args
    text = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(text)


def main():
    results = {"load_before": open("/proc/loadavg").read().split()[:3], "runs": [], "blocks": []}
    for context in (1024, 4096, 16384):
        for ranks in (1, 2, 4):
            for mode in ("ring", "gathered", "heads"):
                r = run(ranks, ["--mode", mode, "--context", str(context)])
                results["runs"].append(r)
                worst = max(r["per_rank"], key=lambda p: p["wall_s"])
                print(f"{mode:8} T={context:6} R={ranks}: {worst['wall_s']:.3f} s, "
                      f"sent {worst['bytes_sent'] / 2**20:.1f} MiB, "
                      f"peak +{worst['peak_extra_MiB']:.1f} MiB", flush=True)
    for threads in (1, 2):
        for l in (128, 256, 512, 1024, 2048, 4096):
            b = run(1, ["--mode", "block", "--context", str(l)], threads)
            b["threads"] = threads
            results["blocks"].append(b)
            print(f"block L={l} threads={threads}: {b['gflops']:.1f} GFLOP/s", flush=True)
    results["load_after"] = open("/proc/loadavg").read().split()[:3]
    with open(OUT, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
