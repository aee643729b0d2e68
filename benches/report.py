#!/usr/bin/env python3
"""Markdown tables of the benches' medians and ratios, and issue 5's targets.

Reads what `cargo bench` left in target/criterion: for every benchmark, its
`new/benchmark.json` (group, id, parameter) and `new/estimates.json` (the
median, in nanoseconds, with its 95% confidence interval). Criterion makes
the group's directory name safe for the file system (`checkout/contended` is
stored as `checkout_contended`), so benchmarks are found by what their
`benchmark.json` says, not by their path.

    python3 benches/report.py [--criterion DIR]

Prints one table per group (median, its confidence interval, the ratio to
the group's reference, requests per second where an iteration is one
request), then the targets with what was measured. Exits 1 if no results
are found; a missed target is reported, not an error.
"""

import argparse
import json
import sys
from pathlib import Path

# Group, the id every ratio is taken against, and whether an iteration is
# one request (so requests per second mean something).
GROUPS = [
    ("checkout/uncontended", "std-mutex-vec", False),
    ("checkout/contended", "std-mutex-vec", False),
    ("checkout/keyed", "deadpool", False),
    ("echo/loopback", "raw-persistent", True),
    ("echo/framed", "raw-framed", True),
    ("http/loopback", "hyper-util-legacy", True),
    ("core/ledger", None, False),
    ("core/fsm", None, False),
    ("core/census", "proc-net-tcp", False),
]


def load(root):
    """{(group, id, parameter): (median, low, high)} in nanoseconds."""
    results = {}
    for meta_path in root.glob("**/new/benchmark.json"):
        estimates_path = meta_path.with_name("estimates.json")
        if not estimates_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        median = json.loads(estimates_path.read_text())["median"]
        interval = median["confidence_interval"]
        key = (meta["group_id"], meta["function_id"], meta.get("value_str"))
        results[key] = (
            median["point_estimate"],
            interval["lower_bound"],
            interval["upper_bound"],
        )
    return results


def duration(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def table(results, group, reference, per_request):
    rows = sorted(
        ((fid, param, est) for (g, fid, param), est in results.items() if g == group),
        key=lambda r: (int(r[1]) if (r[1] or "").isdigit() else 0, r[1] or "", r[0]),
    )
    if not rows:
        return []
    ref_of = {param: est[0] for fid, param, est in rows if fid == reference}
    header = ["id", "median", "95% CI of the median"]
    if reference:
        header.append(f"× {reference}")
    if per_request:
        header.append("requests/s")
    lines = [f"### `{group}`", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * len(header))
    for fid, param, (median, low, high) in rows:
        name = f"`{fid}/{param}`" if param else f"`{fid}`"
        cells = [name, duration(median), f"{duration(low)} – {duration(high)}"]
        if reference:
            ref = ref_of.get(param)
            cells.append(f"{median / ref:.2f}" if ref else "–")
        if per_request:
            cells.append(f"{1e9 / median:,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def targets(results):
    """(target, measured, met) for each of issue 5's targets that has data."""

    def median(group, fid, param=None):
        est = results.get((group, fid, param))
        return est[0] if est else None

    out = []

    def ratio(label, a, b, limit, fmt="{:.2f}×"):
        if a is None or b is None:
            return
        r = a / b
        out.append((label, fmt.format(r), r <= limit))

    unc = "checkout/uncontended"
    tw = median(unc, "timewait")
    ratio("uncontended checkout within 2× of `std-mutex-vec`", tw, median(unc, "std-mutex-vec"), 2.0)
    ratio("uncontended checkout faster than `deadpool`", tw, median(unc, "deadpool"), 1.0)
    ratio("uncontended checkout faster than `bb8`", tw, median(unc, "bb8"), 1.0)
    con = "checkout/contended"
    sizes = sorted({p for (g, _, p) in results if g == con and p}, key=int)
    for size in sizes:
        tw = median(con, "timewait", size)
        for peer in ("deadpool", "bb8"):
            ratio(
                f"contended checkout, pool of {size}, ahead of `{peer}`",
                tw,
                median(con, peer, size),
                1.0,
            )
    echo = "echo/loopback"
    raw = median(echo, "raw-persistent")
    ratio("pooled echo within 10% of `raw-persistent`", median(echo, "pool-peer-first"), raw, 1.10)
    cpr = median(echo, "connect-per-request")
    if cpr is not None and raw is not None:
        out.append(("`connect-per-request` ÷ `raw-persistent` (about 7×)", f"{cpr / raw:.1f}×", None))
    framed = "echo/framed"
    ratio(
        "framed lease within 10% of `raw-framed`",
        median(framed, "pool-framed"),
        median(framed, "raw-framed"),
        1.10,
    )
    http = "http/loopback"
    legacy = median(http, "hyper-util-legacy")
    ratio(
        "`timewait-http` (unlimited uses) at least as fast as `hyper-util-legacy`",
        median(http, "timewait-http"),
        legacy,
        1.0,
    )
    ratio(
        "`timewait-http/max-uses-100` at least 0.9× the requests/s of `hyper-util-legacy`",
        median(http, "timewait-http/max-uses-100"),
        legacy,
        1 / 0.9,
    )
    census = "core/census"
    diag = median(census, "sock-diag")
    ratio("census: `sock-diag` faster than `proc-net-tcp`", diag, median(census, "proc-net-tcp"), 1.0)
    ratio("census: `sock-diag` faster than `ss … \\| wc -l`", diag, median(census, "ss"), 1.0)
    return out


def main():
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", type=Path, default=here / "target" / "criterion")
    args = parser.parse_args()
    results = load(args.criterion)
    if not results:
        print(f"no criterion results under {args.criterion}: run `cargo bench` first", file=sys.stderr)
        return 1
    lines = []
    for group, reference, per_request in GROUPS:
        lines += table(results, group, reference, per_request)
    met = targets(results)
    if met:
        lines += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
        for label, measured, ok in met:
            verdict = "–" if ok is None else ("yes" if ok else "**no**")
            lines.append(f"| {label} | {measured} | {verdict} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
