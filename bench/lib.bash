# Shared helpers for bench/*.sh (sourced, not a benchmark).
RUNS=${RUNS:-5}

# median_ratio JSON: median(command 0) / median(command 1) from hyperfine --export-json.
median_ratio() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0]["median"], r[1]["median"]
print(f"  {r[0]['command'][:60]:<60} median {a*1000:8.1f} ms")
print(f"  {r[1]['command'][:60]:<60} median {b*1000:8.1f} ms")
print(f"  ratio (first/second): {a/b:.2f}x")
PY
}
