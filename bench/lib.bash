# Shared helpers for bench/*.sh (sourced, not a benchmark).
RUNS=${RUNS:-5}
# bench/run points BENCH_ROWS at a JSON-lines file that collects one row per
# figure; run alone, a script writes its rows to a throwaway file.
BENCH_ROWS=${BENCH_ROWS:-$(mktemp)}

# row NAME OURS REFERENCE UNIT RUNS [OURS_RANGE REFERENCE_RANGE [KIND]]
# Records one figure. KIND is "time" (default: ratio ours/reference, lower
# is better) or "throughput" (ratio ours/reference, higher is better).
# Ranges are "min-max" of the runs.
row() {
  python3 - "$BENCH_ROWS" "$@" <<'PY'
import json, sys
out, name, ours, ref, unit, runs = sys.argv[1:7]
rest = sys.argv[7:] + [""] * 3
ours_range, ref_range, kind = rest[0], rest[1], rest[2] or "time"
ours, ref = float(ours), float(ref)
r = {"name": name, "ours": ours, "reference": ref, "ratio": round(ours / ref, 3),
     "unit": unit, "runs": int(runs), "kind": kind}
if ours_range: r["ours_range"] = ours_range
if ref_range: r["reference_range"] = ref_range
open(out, "a").write(json.dumps(r) + "\n")
better = "higher is better" if kind == "throughput" else "lower is better"
print(f"  {name}: ours {ours:g} {unit} ({ours_range or '-'}), reference {ref:g} {unit} ({ref_range or '-'}), ratio {r['ratio']:.2f}x ({better}, {runs} runs)")
PY
}

# stats FILE -> "median min-max count" of the numbers in FILE (one per line).
stats() {
  python3 - "$1" <<'PY'
import statistics, sys
v = sorted(float(l) for l in open(sys.argv[1]) if l.strip())
print(f"{statistics.median(v):.4g} {v[0]:.4g}-{v[-1]:.4g} {len(v)}")
PY
}

# hyperfine_row NAME JSON: a row from hyperfine --export-json with two
# commands (ours first, the reference second), in seconds.
hyperfine_row() {
  local name=$1 json=$2
  # shellcheck disable=SC2046
  row "$name" $(python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0], r[1]
rng = lambda x: f"{min(x['times']):.4g}-{max(x['times']):.4g}"
print(f"{a['median']:.4g} {b['median']:.4g} s {len(a['times'])} {rng(a)} {rng(b)}")
PY
)
  python3 - "$json" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["results"]:
    print(f"    {c['command'][:70]:<70} median {c['median']*1000:9.1f} ms")
PY
}

# median_ratio JSON: kept for scripts that print without recording a row.
median_ratio() { hyperfine_row "${2:-unnamed}" "$1"; }
