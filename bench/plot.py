#!/usr/bin/env python3
"""Charts and a summary table from the JSON that bench/run.sh writes.

    python3 bench/plot.py bench/results

Reads peak_bench.json, gemm_bench.json, softmax_bench.json,
attention_bench.json, attention_bench_<target>.json, decode_bench.json,
prefill_bench.json, prefill_bench_<target>.json and gemm_bf16_bench.json
(whichever exist) and writes, next to them:
  attention_gflops_<E>_<H>_B<B>.png  GFLOP/s against T per contender, one
                                     panel per thread count, the FMA peak of
                                     that run as a horizontal line;
  attention_pct_peak_targets.png     mhsa's % of peak on each SIMD target;
  gemm_gflops.png                    GFLOP/s per shape and contender;
  softmax_gbps.png                   GB/s against row length;
  decode_step.png                    a decoding step (decode_bench.json): time
                                     per token and % of the read bandwidth
                                     against the context length;
  roofline.png                       every attention and decode point's
                                     GFLOP/s against its arithmetic intensity,
                                     under the FMA peak and the bandwidth roof;
  bf16_speedup.png                   bf16 against float32: the layer's
                                     speedup over T, the decode step's time
                                     over the context length L;
  summary.md                         the headline numbers as Markdown tables,
                                     ready for the README.
Uses medians when the runs were repeated, else the single run.
"""

import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # Files only; no display on a build machine.
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

# One colour and marker per contender, the same in every chart.
STYLE = {
    "mhsa": ("tab:red", "o"),
    "mhsa_cached": ("tab:red", "+"),
    "mhsa_bf16": ("tab:brown", "o"),
    "gqa_bf16": ("tab:olive", "s"),
    "mhsa_packed": ("tab:pink", "o"),
    "reference": ("tab:gray", "x"),
    "openblas": ("tab:blue", "s"),
    "blis": ("tab:green", "^"),
    "onednn": ("tab:purple", "D"),
    "eigen": ("tab:orange", "v"),
    "plain": ("tab:gray", "x"),
    "recompute": ("tab:brown", "x"),
    "gqa": ("tab:cyan", "o"),
}

# Bytes a call must move at the least (read x and the weights, write out),
# float32: the denominator of the roofline's arithmetic intensity.
def layer_bytes(a):
    b, t, e = a["B"], a["T"], a["E"]
    return 4.0 * (b * t * e + b * t * e + 3 * e * e)


def layer_flops(a):
    b, t, e = a["B"], a["T"], a["E"]
    return 2.0 * b * t * e * 3 * e + 2.0 * b * t * t * e


# decode_bench's step, E = A = 512, H = 8, head_dim 64 (gqa: 32 heads of 128
# over 8 K/V heads, no projection).
def decode_flops(r):
    a = r["args"]
    if r["contender"] == "gqa":
        return 4.0 * a["B"] * 32 * a["L"] * 128
    return 2.0 * a["B"] * 512 * 3 * 512 + 4.0 * a["B"] * 512 * a["L"]


def load(path):
    """Returns (context, results, errors) of one benchmark JSON file.

    results: {run_name: {"family", "contender", "shape", "args", counters...}}
    errors: {run_name: message}.
    """
    with open(path) as f:
        data = json.load(f)
    medians, singles, errors = {}, {}, {}
    for entry in data.get("benchmarks", []):
        run_name = entry.get("run_name", entry["name"])
        if entry.get("error_occurred"):
            errors[run_name] = entry.get("error_message", "error")
            continue
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[run_name] = entry
        else:
            singles.setdefault(run_name, entry)
    # In the binary's declared order (families, then their instances), not
    # the order the runs finished in, which random interleaving shuffles.
    def declared(item):
        entry = item[1]
        return (entry.get("family_index", 0), entry.get("per_family_instance_index", 0))

    results = {}
    for run_name, entry in sorted({**singles, **medians}.items(), key=declared):
        parts = [p for p in run_name.split("/") if p != "real_time"]
        # Family/contender/shape/key:value/...; contender and shape optional
        # (StreamRead/threads:1).
        record = dict(entry)
        record["family"] = parts[0]
        names = [p for p in parts[1:] if ":" not in p] + ["", ""]
        record["contender"], record["shape"] = names[0], names[1]
        record["args"] = {}
        for part in parts[1:]:
            if ":" in part:
                key, value = part.split(":", 1)
                record["args"][key] = int(value) if value.isdigit() else value
        results[run_name] = record
    return data.get("context", {}), results, errors


def peak(context, threads):
    value = context.get("peak_gflops_threads_%d" % threads)
    return float(value) if value else None


def contenders_in(results):
    order = list(STYLE)
    found = {r["contender"] for r in results.values()}
    return sorted(found, key=lambda c: (order.index(c) if c in order else len(order), c))


def plot_attention(out_dir, context, results):
    written = []
    configs = sorted({(r["args"]["E"], r["args"]["H"], r["args"]["B"])
                      for r in results.values()})
    for e, h, b in configs:
        rows = [r for r in results.values()
                if (r["args"]["E"], r["args"]["H"], r["args"]["B"]) == (e, h, b)]
        if len({r["args"]["T"] for r in rows}) < 2:
            continue  # A single point is a table entry, not a curve.
        thread_counts = sorted({r["args"]["threads"] for r in rows})
        fig, axes = plt.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4.5),
                                 squeeze=False)
        for ax, threads in zip(axes[0], thread_counts):
            for contender in contenders_in(results):
                points = sorted((r["args"]["T"], r["GFLOPS"]) for r in rows
                                if r["contender"] == contender and r["args"]["threads"] == threads)
                if not points:
                    continue
                color, marker = STYLE.get(contender, ("black", "."))
                ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker,
                        color=color, label=contender)
            limit = peak(context, threads)
            if limit:
                ax.axhline(limit, color="black", linestyle="--", linewidth=1,
                           label="FMA peak %.0f" % limit)
            ax.set_xscale("log", base=2)
            contexts = sorted({r["args"]["T"] for r in rows})
            ax.set_xticks(contexts)
            ax.set_xticklabels([str(t) for t in contexts])
            ax.set_xlabel("context T")
            ax.set_ylabel("GFLOP/s")
            ax.set_ylim(bottom=0)
            ax.set_title("%d thread%s" % (threads, "" if threads == 1 else "s"))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle("Attention layer, B=%d, E=A=%d, H=%d, target %s"
                     % (b, e, h, context.get("mhsa_target", "?")))
        fig.tight_layout()
        name = "attention_gflops_E%d_H%d_B%d.png" % (e, h, b)
        fig.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(fig)
        written.append(name)
    return written


def target_series(best_context, best_results, target_files):
    """{target: {T: (GFLOP/s, % of that target's peak)}} for mhsa at B=1,
    E=512, 1 thread: attention_bench.json gives the best target, each
    attention_bench_<target>.json another."""
    series = {}

    def collect(context, results):
        # float32 mhsa runs its SIMD target's code; a pseudo-target's run
        # (mhsa_target AVX3_AMX, say) repeats it and is left to the bf16 chart.
        target = context.get("mhsa_simd_target", context.get("mhsa_target", "?"))
        if target in series:
            return
        for r in results.values():
            a = r["args"]
            if (r["contender"] == "mhsa" and a.get("B") == 1 and a.get("E") == 512
                    and a.get("threads") == 1 and a.get("T") in (128, 1024)):
                series.setdefault(target, {})[a["T"]] = (r["GFLOPS"], r["pct_peak"])
    collect(best_context, best_results)
    for path in target_files:
        context, results, _ = load(path)
        collect(context, results)
    # Best target first, as mhsa lists them.
    order = best_context.get("mhsa_available_targets", "").split(",")
    return dict(sorted(series.items(),
                       key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def plot_targets(out_dir, series):
    """% of peak of mhsa on each target, each relative to its own peak."""
    if not series:
        return []
    targets = list(series)
    contexts = sorted({t for values in series.values() for t in values})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / len(contexts)
    for i, t in enumerate(contexts):
        xs = [j + i * width for j in range(len(targets))]
        ax.bar(xs, [series[target].get(t, (0, 0))[1] for target in targets], width,
               label="T=%d" % t)
    ax.set_xticks([j + width * (len(contexts) - 1) / 2 for j in range(len(targets))])
    ax.set_xticklabels(targets)
    ax.set_ylabel("% of that target's FMA peak")
    ax.set_title("mhsa per SIMD target: B=1, E=A=512, H=8, 1 thread")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    name = "attention_pct_peak_targets.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return [name]


def gemm_label(r):
    a = r["args"]
    if r["shape"] == "square":
        return "square %d" % a["m"]
    return "%s %dx%dx%d" % (r["shape"], a["m"], a["n"], a["k"])


def plot_gemm(out_dir, context, results):
    labels = []
    for r in results.values():
        if gemm_label(r) not in labels:
            labels.append(gemm_label(r))
    contenders = contenders_in(results)
    thread_counts = sorted({r["args"]["threads"] for r in results.values()})
    fig, axes = plt.subplots(len(thread_counts), 1, figsize=(11, 4 * len(thread_counts)),
                             squeeze=False)
    width = 0.8 / max(1, len(contenders))
    for ax, threads in zip(axes[:, 0], thread_counts):
        for i, contender in enumerate(contenders):
            values = {gemm_label(r): r["GFLOPS"] for r in results.values()
                      if r["contender"] == contender and r["args"]["threads"] == threads}
            xs = [j + i * width for j, label in enumerate(labels) if label in values]
            ys = [values[label] for label in labels if label in values]
            color, _ = STYLE.get(contender, ("black", "."))
            ax.bar(xs, ys, width, label=contender, color=color)
        limit = peak(context, threads)
        if limit:
            ax.axhline(limit, color="black", linestyle="--", linewidth=1,
                       label="FMA peak %.0f" % limit)
        ax.set_xticks([j + width * (len(contenders) - 1) / 2 for j in range(len(labels))])
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("GFLOP/s")
        ax.set_title("GEMM, %d thread%s" % (threads, "" if threads == 1 else "s"))
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "gemm_gflops.png"), dpi=110)
    plt.close(fig)
    return ["gemm_gflops.png"]


def plot_softmax(out_dir, results):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for contender in contenders_in(results):
        points = sorted((r["args"]["L"], r["GBps"]) for r in results.values()
                        if r["contender"] == contender)
        color, marker = STYLE.get(contender, ("black", "."))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker,
                color=color, label=contender)
    ax.set_xscale("log", base=2)
    lengths = sorted({r["args"]["L"] for r in results.values()})
    ax.set_xticks(lengths)
    ax.set_xticklabels([str(length) for length in lengths])
    ax.set_xlabel("row length L")
    ax.set_ylabel("GB/s (row read and written)")
    ax.set_title("Causal softmax, one row, 1 thread")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "softmax_gbps.png"), dpi=110)
    plt.close(fig)
    return ["softmax_gbps.png"]


def plot_decode(out_dir, context, results):
    """Time per token and % of the read bandwidth against L, B=1 and B=8."""
    rows = [r for r in results.values() if r["family"] == "Decode"]
    if not rows:
        return []
    batches = sorted({r["args"]["B"] for r in rows})
    threads = max(r["args"]["threads"] for r in rows)
    fig, axes = plt.subplots(2, len(batches), figsize=(6 * len(batches), 8), squeeze=False)
    for col, b in enumerate(batches):
        for contender in contenders_in({k: r for k, r in results.items() if r in rows}):
            points = sorted((r["args"]["L"], 1e3 / r["tokens_per_s"], r["pct_bw"]) for r in rows
                            if r["contender"] == contender and r["args"]["B"] == b
                            and r["args"]["threads"] == threads)
            if not points:
                continue
            color, marker = STYLE.get(contender, ("black", "."))
            axes[0][col].plot([p[0] for p in points], [p[1] for p in points], marker=marker,
                              color=color, label=contender)
            if contender != "recompute":
                axes[1][col].plot([p[0] for p in points], [p[2] for p in points], marker=marker,
                                  color=color, label=contender)
        for row, label in ((0, "ms per token"), (1, "% of streaming-read bandwidth")):
            ax = axes[row][col]
            ax.set_xscale("log", base=2)
            if row == 0:
                ax.set_yscale("log")
            ax.set_xlabel("context L (positions attended)")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        axes[1][col].axhline(100, color="black", linestyle="--", linewidth=1)
        axes[0][col].set_title("decode step, B=%d, %d thread%s" % (b, threads,
                                                                  "" if threads == 1 else "s"))
    fig.suptitle("One token per sequence against a KV cache (E=A=512, H=8; gqa: 32/8 heads "
                 "of 128), target %s" % context.get("mhsa_target", "?"))
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "decode_step.png"), dpi=110)
    plt.close(fig)
    return ["decode_step.png"]


def plot_roofline(out_dir, files):
    """GFLOP/s against FLOPs per byte moved, with the machine's two roofs."""
    if "attention" not in files or "peak" not in files:
        return []
    context, results, _ = files["attention"]
    _, peaks, _ = files["peak"]
    threads = 2
    limit = peak(context, threads)
    bandwidth = max((r["GBps"] for r in peaks.values()
                     if r["family"] == "StreamRead" and r["args"]["threads"] == threads),
                    default=None)
    if not limit or not bandwidth:
        return []
    fig, ax = plt.subplots(figsize=(8, 5.5))
    # The knee (peak / bandwidth) is a point of the line: two end points alone
    # would draw the diagonal through it.
    xs = [0.05, limit / bandwidth, 5000.0]
    ax.plot(xs, [min(limit, bandwidth * x) for x in xs], color="black", linewidth=1.5,
            label="roof: min(float32 FMA peak %.0f GFLOP/s, %.1f GB/s x intensity);\n"
                  "bf16 dot products and L3-resident data may pass it" % (limit, bandwidth))
    for contender in contenders_in(results):
        points = [(layer_flops(r["args"]) / layer_bytes(r["args"]), r["GFLOPS"])
                  for r in results.values()
                  if r["contender"] == contender and r["args"]["threads"] == threads]
        if points:
            color, marker = STYLE.get(contender, ("black", "."))
            ax.scatter([p[0] for p in points], [p[1] for p in points], color=color,
                       marker=marker, label="layer, " + contender)
    if "decode" in files:
        for r in files["decode"][1].values():
            if r["family"] != "Decode" or r["args"]["threads"] != threads:
                continue
            if r["contender"] not in ("mhsa", "gqa"):
                continue
            bytes_per_step = r["GBps"] * 1e9 / r["tokens_per_s"] * r["args"]["B"]
            gflops = decode_flops(r) * r["tokens_per_s"] / r["args"]["B"] * 1e-9
            color, marker = STYLE.get(r["contender"], ("black", "."))
            ax.scatter([decode_flops(r) / bytes_per_step], [gflops], color=color, marker="+",
                       s=60)
        ax.scatter([], [], color="tab:red", marker="+", label="decode step (mhsa, gqa)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte it must move)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("Roofline, %d threads, target %s" % (threads, context.get("mhsa_target", "?")))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "roofline.png"), dpi=110)
    plt.close(fig)
    return ["roofline.png"]
def bf16_layer_ratios(files_by_target):
    """{(kernel, B, T, threads): mhsa_bf16 GFLOP/s / mhsa GFLOP/s} from the
    attention runs, the kernel being the mhsa_bf16 label (AVX3_AMX, ...)."""
    ratios = {}
    for context, results, _ in files_by_target:
        by_shape = {}
        for r in results.values():
            a = r["args"]
            if r["contender"] in ("mhsa", "mhsa_bf16") and a.get("E") == 512:
                by_shape.setdefault((a["B"], a["T"], a["threads"]), {})[r["contender"]] = r
        for (b, t, threads), pair in by_shape.items():
            if "mhsa" in pair and "mhsa_bf16" in pair:
                kernel = pair["mhsa_bf16"].get("label", context.get("mhsa_target", "?"))
                ratios[(kernel, b, t, threads)] = (pair["mhsa_bf16"]["GFLOPS"]
                                                   / pair["mhsa"]["GFLOPS"])
    return ratios


def plot_bf16(out_dir, ratios, decode):
    """Left: the layer's bf16 speedup over float32 against T (B=1), per bf16
    kernel and thread count. Right: ms per decode step against L (B=1)."""
    if not ratios and not decode:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for kernel, threads in sorted({(k, th) for (k, b, t, th) in ratios}):
        points = sorted((t, v) for (k, b, t, th), v in ratios.items()
                        if k == kernel and th == threads and b == 1)
        if points:
            left.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                      label="%s, %d thr" % (kernel, threads))
    left.axhline(1.0, color="black", linewidth=1)
    left.axhline(1.7, color="gray", linestyle="--", linewidth=1, label="target 1.7x")
    left.set_xscale("log", base=2)
    left.set_xlabel("context T (B=1, E=A=512, H=8)")
    left.set_ylabel("bf16 speed / float32 speed")
    left.set_title("Layer")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    if decode:
        _, results, _ = decode
        for contender in ("mhsa", "mhsa_bf16", "gqa", "gqa_bf16"):
            for threads in sorted({r["args"]["threads"] for r in results.values()}):
                points = sorted((r["args"]["L"], r["real_time"]) for r in results.values()
                                if r["contender"] == contender and r["args"]["B"] == 1
                                and r["args"]["threads"] == threads)
                if points:
                    color, marker = STYLE.get(contender, ("black", "."))
                    right.plot([p[0] for p in points], [p[1] for p in points], marker=marker,
                               color=color, linestyle="-" if threads > 1 else ":",
                               label="%s, %d thr" % (contender, threads))
        right.set_xscale("log", base=2)
        right.set_yscale("log")
        right.set_xlabel("positions attended to L (B=1)")
        right.set_ylabel("ms per step")
        right.set_title("Decode step")
        right.grid(True, alpha=0.3)
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "bf16_speedup.png"), dpi=110)
    plt.close(fig)
    return ["bf16_speedup.png"]


def bf16_summary(ratios, decode, gemm_bf16):
    text = ["## bfloat16 against float32", ""]
    if ratios:
        rows = [[k, "B=%d T=%d, %d thr" % (b, t, th), "%.2fx" % v]
                for (k, b, t, th), v in sorted(ratios.items())]
        text += ["Layer (E=A=512, H=8): mhsa_bf16 speed over mhsa's.", "",
                 table(["bf16 kernel", "shape", "speedup"], rows), ""]
    if decode:
        _, results, _ = decode
        rows = []
        for float_name, bf16_name in (("mhsa", "mhsa_bf16"), ("gqa", "gqa_bf16")):
            for r in sorted(results.values(), key=lambda r: (r["args"]["threads"],
                                                             r["args"]["B"], r["args"]["L"])):
                if r["contender"] != float_name:
                    continue
                match = [m for m in results.values() if m["contender"] == bf16_name
                         and m["args"] == r["args"]]
                if match:
                    rows.append(["%s B=%d L=%d, %d thr" % (float_name, r["args"]["B"],
                                                           r["args"]["L"], r["args"]["threads"]),
                                 "%.3f" % r["real_time"], "%.3f" % match[0]["real_time"],
                                 "%.2fx" % (r["real_time"] / match[0]["real_time"]),
                                 mib(r.get("cache_MiB", 0)) + " / " +
                                 mib(match[0].get("cache_MiB", 0)) if "cache_MiB" in r else ""])
        text += ["Decode step (ms; cache MiB float32 / bf16).", "",
                 table(["step", "float32", "bf16", "speedup", "cache MiB"], rows), ""]
    if gemm_bf16:
        _, results, _ = gemm_bf16
        rows = []
        for r in results.values():
            if r["contender"] == "f32":
                continue
            f32 = [m for m in results.values() if m["contender"] == "f32"
                   and m["shape"] == r["shape"] and m["args"] == r["args"]]
            if f32:
                rows.append(["%s %s, %d thr" % (r["contender"], r["shape"], r["args"]["threads"]),
                             r.get("label", ""), "%.1f" % r["GFLOPS"],
                             "%.2fx" % (r["GFLOPS"] / f32[0]["GFLOPS"])])
        text += ["bf16 GEMM (GFLOP/s, and over the float32 GEMM).", "",
                 table(["kernel, shape", "label", "GFLOP/s", "over f32"], rows), ""]
    return text


def mib(value):
    return "%.1f" % value if value < 10 else "%.0f" % value


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def prefill_summary(out_dir):
    """The kernel-level prefill (prefill_bench*.json): float32 and bf16
    tensors per shape, and bf16's speed over float32, for each run (the
    best target's, then each other target's)."""
    paths = sorted(glob.glob(os.path.join(out_dir, "prefill_bench*.json")))
    if not paths:
        return []
    text = ["## Kernel-level Attention, prefill (GFLOP/s, % of peak)", "",
            "q_len = kv_len = T, causal, B=1; q [T][H][D], k and v [Hkv][T][D]. "
            "The label names the SIMD target (float32) and the bf16 kernel.", ""]
    rows = []
    for path in paths:
        _, results, _ = load(path)
        by_shape = {}  # In the binary's order; per shape, by contender.
        for r in results.values():
            key = tuple(r["args"][k] for k in ("T", "H", "Hkv", "D", "threads"))
            by_shape.setdefault(key, {})[r["contender"]] = r
        for key, match in by_shape.items():
            f32, b16 = match.get("attention"), match.get("attention_bf16")
            if not f32 or not b16:
                continue
            rows.append(["T=%d H=%d Hkv=%d D=%d, %d thr" % key,
                         "%.1f (%.0f%%) %s" % (f32["GFLOPS"], f32["pct_peak"], f32.get("label", "")),
                         "%.1f (%.0f%%) %s" % (b16["GFLOPS"], b16["pct_peak"], b16.get("label", "")),
                         "%.2fx" % (f32["real_time"] / b16["real_time"])])
    return text + [table(["shape", "float32", "bf16", "bf16 speed"], rows), ""]


def summary(out_dir, files, series, bf16_text=()):
    text = ["# Benchmark summary", "",
            "Medians of bench/run.sh's repetitions of each benchmark (a binary's repetitions "
            "interleaved at random); GFLOP/s (% of the FMA peak of the same run).", ""]
    if "peak" in files:
        context, results, _ = files["peak"]
        rows = []
        for r in results.values():  # In the binary's order: best target first.
            if r["family"] == "FmaPeak":
                rows.append(["FMA peak, " + r["contender"], str(r["args"]["threads"]),
                             "%.1f GFLOP/s" % r["GFLOPS"]])
            elif r["family"] == "TileCeiling":
                rows.append(["GEMM register tile in cache, %s, k=%d" % (r["contender"], r["args"]["k"]),
                             str(r["args"]["threads"]),
                             "%.1f GFLOP/s (%.0f%% of peak)" % (r["GFLOPS"], r["pct_peak"])])
            elif r["family"] == "ScoreCeiling":
                rows.append(["flash score block in cache, %s, head_dim %d" % (
                                 r["contender"], r["args"]["dim"]),
                             str(r["args"]["threads"]),
                             "%.1f GFLOP/s (%.0f%% of peak)" % (r["GFLOPS"], r["pct_peak"])])
            elif r["family"] == "StreamRead":
                rows.append(["streaming read of %.0f MiB" % r["buffer_MiB"],
                             str(r["args"]["threads"]), "%.1f GB/s" % r["GBps"]])
        text += ["## Limits", "", table(["measure", "threads", "value"], rows), ""]
    if "attention" in files:
        context, results, errors = files["attention"]
        contenders = contenders_in(results)
        shapes = sorted({tuple(r["args"][k] for k in ("B", "T", "E", "H", "threads"))
                         for r in results.values()})
        rows = []
        for shape in shapes:
            row = ["B=%d T=%d E=%d H=%d, %d thr" % shape]
            for contender in contenders:
                match = [r for r in results.values() if r["contender"] == contender and
                         tuple(r["args"][k] for k in ("B", "T", "E", "H", "threads")) == shape]
                row.append("%.1f (%.0f%%), %s MiB" % (
                    match[0]["GFLOPS"], match[0]["pct_peak"], mib(match[0]["peak_MiB"]))
                    if match else "")
            rows.append(row)
        text += ["## Attention layer (GFLOP/s, % of peak, peak extra memory)", "",
                 "Target %s; peak %s (1 thread), %s (2 threads) GFLOP/s; memory: %s." % (
                     context.get("mhsa_target", "?"), context.get("peak_gflops_threads_1", "?"),
                     context.get("peak_gflops_threads_2", "?"),
                     context.get("peak_memory_method", "?")), "",
                 table(["shape"] + contenders, rows), ""]
        if errors:
            text += ["Errors: " + "; ".join("%s: %s" % kv for kv in sorted(errors.items())), ""]
    if series:
        contexts = sorted({t for values in series.values() for t in values})
        rows = [[target] + ["%.1f (%.0f%%)" % values[t] if t in values else ""
                            for t in contexts] for target, values in series.items()]
        text += ["## mhsa per SIMD target (B=1, E=A=512, H=8, 1 thread)", "",
                 "Each % is of that target's own FMA peak. SCALAR is Highway's one-lane "
                 "target: the compiler still vectorizes its loops with the SSE2 baseline, "
                 "so it can pass 100% of a one-lane peak.", "",
                 table(["target"] + ["T=%d" % t for t in contexts], rows), ""]
    if "gemm" in files:
        context, results, _ = files["gemm"]
        contenders = contenders_in(results)
        keys = []
        for r in results.values():
            key = (gemm_label(r), r["args"]["threads"])
            if key not in keys:
                keys.append(key)
        rows = []
        for label, threads in keys:
            row = ["%s, %d thr" % (label, threads)]
            for contender in contenders:
                match = [r for r in results.values() if r["contender"] == contender and
                         gemm_label(r) == label and r["args"]["threads"] == threads]
                row.append("%.1f (%.0f%%)" % (match[0]["GFLOPS"], match[0]["pct_peak"])
                           if match else "")
            rows.append(row)
        text += ["## GEMM", "", "OpenBLAS kernel: %s." % context.get("openblas_corename", "n/a"),
                 "", table(["shape"] + contenders, rows), ""]
    if "softmax" in files:
        _, results, _ = files["softmax"]
        contenders = contenders_in(results)
        lengths = sorted({r["args"]["L"] for r in results.values()})
        rows = []
        for length in lengths:
            row = [str(length)]
            for contender in contenders:
                match = [r for r in results.values()
                         if r["contender"] == contender and r["args"]["L"] == length]
                row.append("%.2f GB/s" % match[0]["GBps"] if match else "")
            rows.append(row)
        text += ["## Softmax (one row)", "", table(["L"] + contenders, rows), ""]
    if "decode" in files:
        context, results, _ = files["decode"]
        rows = [r for r in results.values() if r["family"] == "Decode"]
        contenders = contenders_in({k: r for k, r in results.items() if r in rows})
        shapes = sorted({(r["args"]["B"], r["args"]["L"], r["args"]["threads"]) for r in rows})
        table_rows = []
        for shape in shapes:
            row = ["B=%d L=%d, %d thr" % shape]
            for contender in contenders:
                match = [r for r in rows if r["contender"] == contender and
                         (r["args"]["B"], r["args"]["L"], r["args"]["threads"]) == shape]
                row.append("%.3f ms (%.0f%%)" % (1e3 / match[0]["tokens_per_s"],
                                                match[0]["pct_bw"]) if match else "")
            table_rows.append(row)
        text += ["## Decode step (ms per token, % of the streaming-read bandwidth)", "",
                 "Read bandwidth %s (1 thread), %s (2 threads) GB/s." % (
                     context.get("read_gbps_threads_1", "?"),
                     context.get("read_gbps_threads_2", "?")), "",
                 table(["shape"] + contenders, table_rows), ""]
    text += prefill_summary(out_dir)
    text += list(bf16_text)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(text))
    return ["summary.md"]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results")
    files = {}
    for name in ("peak", "gemm", "softmax", "attention", "decode", "gemm_bf16"):
        path = os.path.join(out_dir, name + "_bench.json")
        if os.path.exists(path):
            files[name] = load(path)
    if not files:
        sys.exit("plot.py: no benchmark JSON in %s; run bench/run.sh first" % out_dir)
    written, series = [], {}
    if "attention" in files:
        context, results, _ = files["attention"]
        written += plot_attention(out_dir, context, results)
        series = target_series(context, results, sorted(
            glob.glob(os.path.join(out_dir, "attention_bench_*.json"))))
        written += plot_targets(out_dir, series)
    if "gemm" in files:
        written += plot_gemm(out_dir, *files["gemm"][:2])
    if "softmax" in files:
        written += plot_softmax(out_dir, files["softmax"][1])
    if "decode" in files:
        written += plot_decode(out_dir, *files["decode"][:2])
    written += plot_roofline(out_dir, files)
    runs = ([files["attention"]] if "attention" in files else []) + [
        load(path) for path in sorted(glob.glob(os.path.join(out_dir, "attention_bench_*.json")))]
    ratios = bf16_layer_ratios(runs)
    written += plot_bf16(out_dir, ratios, files.get("decode"))
    written += summary(out_dir, files, series,
                       bf16_summary(ratios, files.get("decode"), files.get("gemm_bf16")))
    print("plot.py: wrote " + ", ".join(os.path.join(out_dir, w) for w in written))


if __name__ == "__main__":
    main()
