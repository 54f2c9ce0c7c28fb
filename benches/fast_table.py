#!/usr/bin/env python3
"""Prints the results of ``cargo bench --bench fast`` as a Markdown table, with the memory floor.

Reads criterion's medians (``target/criterion/<bench>/new/estimates.json``, or under
``$CRITERION_HOME``) of every configuration that was run: ``value``, ``value+grad`` and ``jvp``,
and the configuration's floor (``floor/read2`` + ``floor/read2write1``: reading both inputs
once, and reading both and writing an array of their size, the least time a value and gradient
that reads its inputs twice and writes the gradient once can take). The last columns are the
value and gradient's ratio to that floor and to the ``asym_unified_focal_loss`` configuration of
the same convention, layout, dtype and shape, where there is one.

Run the bench first, for example ``cargo bench --bench fast -- f64/1x`` (the float64 volumes),
then ``python3 benches/fast_table.py``. Standard library only.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("value", "value+grad", "jvp", "floor/read2", "floor/read2write1")


def median(home, name):
    path = os.path.join(home, name.replace("/", "_"), "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] * 1e-9
    except OSError:
        return None


def main():
    home = os.environ.get("CRITERION_HOME", os.path.join(ROOT, "target", "criterion"))
    if not os.path.isdir(home):
        raise SystemExit(f"no criterion results in {home}: run cargo bench --bench fast first")
    configs = set()
    for entry in os.listdir(home):
        for mode in MODES:
            prefix = mode.replace("/", "_") + "_"
            if entry.startswith(prefix):
                configs.add(entry[len(prefix):])
    rows = []
    for config in sorted(configs):
        # FUNCTION_CONVENTION_LAYOUT_DTYPE_SHAPE; the function may hold underscores.
        parts = config.split("_")
        if len(parts) < 5:
            continue
        shape, dtype, layout, convention = parts[-1], parts[-2], parts[-3], parts[-4]
        function = "_".join(parts[:-4])
        name = f"{function}/{convention}/{layout}/{dtype}/{shape}"
        t = {m: median(home, f"{m}/{name}") for m in MODES}
        if t["value+grad"] is None:
            continue
        rows.append((function, convention, layout, dtype, shape, t))
    if not rows:
        raise SystemExit("no value+grad results found")
    asym = {(c, l, d, s): t["value+grad"] for f, c, l, d, s, t in rows if f == "asym"}
    print("| function | convention | layout | dtype | shape | value | value + gradient | JVP "
          "| floor | value + gradient / floor | / asym |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ms = lambda x: "—" if x is None else f"{x * 1e3:.2f} ms"
    for function, convention, layout, dtype, shape, t in rows:
        floor = None
        if t["floor/read2"] is not None and t["floor/read2write1"] is not None:
            floor = t["floor/read2"] + t["floor/read2write1"]
        ratio = "—" if floor is None else f"{t['value+grad'] / floor:.2f}x"
        ref = asym.get((convention, layout, dtype, shape))
        rel = "—" if ref is None else f"{t['value+grad'] / ref:.2f}x"
        print(f"| `{function}` | {convention} | {layout} | {dtype} | {shape} | {ms(t['value'])} "
              f"| {ms(t['value+grad'])} | {ms(t['jvp'])} | {ms(floor)} | {ratio} | {rel} |")


if __name__ == "__main__":
    sys.exit(main())
