# metalos initrd vs `find | cpio -o -H newc | zstd -T0` on the same tree
# (the cloud kernel's whole modules directory + a tiny /init), same zstd level.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
LEVEL=${LEVEL:-9}
modules=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['inputs']['kernel-modules']['path'])" "$INPUTS")
kver=$(basename "$modules")
mkdir -p "$work/tree/lib/modules"
cp -a "$modules" "$work/tree/lib/modules/$kver"
printf '#!/bin/sh\n' > "$work/tree/init"
chmod 755 "$work/tree/init"
cat > "$work/spec.toml" <<SPEC
init = { file = "tree/init" }
compression = { algorithm = "zstd", level = $LEVEL }
[[files]]
path = "/lib/modules/$kver"
source = { file = "tree/lib/modules/$kver" }
SPEC
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/initrd.json" \
  "$METALOS initrd -q $work/spec.toml -o $work/m.img" \
  "cd $work/tree && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | zstd -q -T0 -$LEVEL -f -o $work/c.img" >/dev/null
hyperfine_row initrd "$work/initrd.json"
echo "  tree: $(du -sb "$work/tree" | cut -f1) bytes; output: metalos $(stat -c %s "$work/m.img") bytes, cpio|zstd $(stat -c %s "$work/c.img") bytes (zstd -$LEVEL)"
