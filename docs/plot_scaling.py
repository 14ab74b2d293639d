#!/usr/bin/env python3
"""Charts and tables of docs/scaling.md from bench/results/mpi_scaling.json.

    python3 docs/plot_scaling.py        (Debian's python3 with python3-matplotlib)

Writes docs/scaling_model.png (the ring's communication against its
computation, modelled for 8 to 64 ranks on three interconnects),
docs/scaling_measured.png (bytes sent and peak memory per rank, measured
here) and prints the tables the document quotes.
"""
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "bench", "results", "mpi_scaling.json")

# The layer of the measurements: E = A = 512, H = 8 (head_dim 64), batch 1.
A = 512
# A rank is one node running mhsa on all its cores; 32 cores, each at the
# single-core rate measured here (ideal scaling over cores: the fastest
# compute, so the latest crossover: a conservative figure for hiding).
CORES = 32
RANKS = (8, 16, 32, 64)
# Quoted from vendor documentation, not measured (docs/scaling.md, Sources):
# nominal line rate as bytes/s, and the adapter's quoted latency.
LINKS = [
    ("25 Gb/s Ethernet (RoCE)", 25e9 / 8, 1.0e-6),
    ("100 Gb/s InfiniBand (EDR/HDR100)", 100e9 / 8, 0.6e-6),
    ("200 Gb/s InfiniBand (HDR)", 200e9 / 8, 0.6e-6),
]


def load():
    with open(RESULTS) as f:
        return json.load(f)


def core_rate(blocks):
    """GFLOP/s of one core on an L x L non-causal block, as a function of L
    (log-linear between the measured L, clamped outside)."""
    points = sorted((b["L"], b["gflops"] * 1e9) for b in blocks if b["threads"] == 1)

    def rate(l):
        if l <= points[0][0]:
            return points[0][1]
        if l >= points[-1][0]:
            return points[-1][1]
        for (l0, f0), (l1, f1) in zip(points, points[1:]):
            if l0 <= l <= l1:
                t = (math.log(l) - math.log(l0)) / (math.log(l1) - math.log(l0))
                return f0 + t * (f1 - f0)
        return points[-1][1]

    return rate


def step_times(t, ranks, bandwidth, latency, rate, cores=CORES):
    """One ring step on one rank: two L x L blocks (L = T / 2R) against the
    transfer of one block of keys and values (2L positions x 2A floats)."""
    l = t / (2 * ranks)
    compute = 8 * l * l * A / (cores * rate(l))
    comm = latency + 16 * l * A / bandwidth
    return compute, comm


def crossover(ranks, bandwidth, latency, rate, cores=CORES):
    """Smallest context at which a step's transfer takes no longer than its
    compute (bisection on log T)."""
    lo, hi = math.log(2 * ranks), math.log(1 << 30)
    for _ in range(100):
        mid = (lo + hi) / 2
        c, m = step_times(math.exp(mid), ranks, bandwidth, latency, rate, cores)
        lo, hi = (lo, mid) if m <= c else (mid, hi)
    return math.exp(hi)


def model_chart(rate):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), sharey=True)
    contexts = [2 ** (k / 8) for k in range(8 * 11, 8 * 22 + 1)]  # 2K .. 4M
    for ax, (name, bandwidth, latency) in zip(axes, LINKS):
        for ranks in RANKS:
            ratio = []
            for t in contexts:
                c, m = step_times(t, ranks, bandwidth, latency, rate)
                ratio.append(m / c)
            line = ax.plot(contexts, ratio, label=f"{ranks} ranks")[0]
            t_star = crossover(ranks, bandwidth, latency, rate)
            ax.plot([t_star], [1.0], "o", color=line.get_color())
            ax.annotate(f"{t_star / 1024:.0f}K", (t_star, 1.0), textcoords="offset points",
                        xytext=(4, 6 + 10 * RANKS.index(ranks)), fontsize=8,
                        color=line.get_color())
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("context length (positions)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("transfer time / compute time per ring step")
    axes[0].legend(fontsize=8)
    fig.suptitle("Ring attention, modelled: below 1 the next block arrives while the current "
                 f"one is computed (E=A=512, H=8; a rank = {CORES} cores at the per-core rate "
                 "measured here; links quoted, not measured)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "scaling_model.png"), dpi=110)


def measured_chart(runs):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    styles = {"ring": "-", "gathered": "--", "heads": ":"}
    colors = {"ring": "tab:blue", "gathered": "tab:red", "heads": "tab:green"}
    markers = {1: "o", 2: "s", 4: "^"}
    for mode in ("ring", "gathered", "heads"):
        for ranks in (1, 2, 4):
            rows = sorted((r for r in runs if r["mode"] == mode and r["ranks"] == ranks),
                          key=lambda r: r["context"])
            x = [r["context"] for r in rows]
            sent = [max(p["bytes_sent"] for p in r["per_rank"]) / 2**20 for r in rows]
            peak = [max(p["peak_extra_MiB"] + p["io_MiB"] for p in r["per_rank"]) for r in rows]
            label = f"{mode}, {ranks} rank{'s' if ranks > 1 else ''}"
            if ranks > 1:
                axes[0].plot(x, sent, styles[mode], color=colors[mode], marker=markers[ranks],
                             label=label)
            axes[1].plot(x, peak, styles[mode], color=colors[mode], marker=markers[ranks],
                         label=label)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (positions)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("MiB sent by the busiest rank\n(heads: its part of the all-gather)")
    axes[1].set_ylabel("MiB resident per rank at the peak (call + its arrays)")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.suptitle("Measured here (E=A=512, H=8, batch 1; 4 ranks oversubscribe 2 cores; "
                 "ring and gathered send the same bytes)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "scaling_measured.png"), dpi=110)


def tables(data, rate):
    print("| mode | context | ranks | bytes sent / rank (MiB) | PMPI | peak / rank (MiB) "
          "| of which buffers | wall (s) | compute / wait (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(data["runs"], key=lambda r: (r["context"], r["mode"], r["ranks"])):
        worst = max(r["per_rank"], key=lambda p: p["bytes_sent"])
        slow = max(r["per_rank"], key=lambda p: p["wall_s"])
        peak = max(r["per_rank"], key=lambda p: p["peak_extra_MiB"] + p["io_MiB"])
        pmpi = worst["pmpi_isend_bytes"] + worst["pmpi_allgatherv_bytes"]
        print(f"| {r['mode']} | {r['context']} | {r['ranks']} | "
              f"{worst['bytes_sent'] / 2**20:.2f} | "
              f"{'=' if pmpi == worst['bytes_sent'] else pmpi / 2**20} | "
              f"{peak['peak_extra_MiB'] + peak['io_MiB']:.1f} | {peak['buffer_MiB']:.1f} | "
              f"{slow['wall_s']:.3f} | {slow['compute_s']:.3f} / {slow['wait_s']:.3f} |")
    print()
    print("| block L | GFLOP/s, 1 thread | 2 threads |")
    print("| --- | --- | --- |")
    for l in sorted({b["L"] for b in data["blocks"]}):
        one = [b["gflops"] for b in data["blocks"] if b["L"] == l and b["threads"] == 1]
        two = [b["gflops"] for b in data["blocks"] if b["L"] == l and b["threads"] == 2]
        print(f"| {l} | {one[0]:.1f} | {two[0]:.1f} |")
    print()
    print("| link | " + " | ".join(f"{r} ranks" for r in RANKS) + " | chunk L* |")
    print("| --- |" + " --- |" * (len(RANKS) + 1))
    for name, bandwidth, latency in LINKS:
        stars = [crossover(r, bandwidth, latency, rate) for r in RANKS]
        print(f"| {name} | " + " | ".join(f"{t / 1024:.0f}K" for t in stars) +
              f" | {stars[0] / (2 * RANKS[0]):.0f} |")
    print()
    print("TCP-like latency (50 us) on 25 Gb/s:",
          [f"{crossover(r, 25e9 / 8, 50e-6, rate) / 1024:.0f}K" for r in RANKS])
    print("this VM as a node (2 cores) on 25 Gb/s:",
          [f"{crossover(r, 25e9 / 8, 1e-6, rate, cores=2) / 1024:.1f}K" for r in RANKS])


def main():
    data = load()
    rate = core_rate(data["blocks"])
    model_chart(rate)
    measured_chart(data["runs"])
    tables(data, rate)


if __name__ == "__main__":
    main()
