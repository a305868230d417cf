# Imaging throughput on this machine: metalimage's write path (`metalos
# netboot image-write`: HTTP stream, zstd, write with the tables last,
# fsync, read-back of what was written, table commit) against
# `curl | zstd -dc | dd bs=4M conv=fsync` of the same blob from the same
# `metalos netboot serve` on 127.0.0.1, both onto a file on the same
# filesystem. MiB/s of the uncompressed 1 GiB default image, higher is better.
#
# Targets: ours gets a sparse file created at the image's size (as a
# trimmed block device would be; it must exist, as a disk does); dd
# creates and fills its file. Neither side drops the page cache (the blob
# is served from it for both); every output file is fsynced by its writer.
# IMAGING_TARGET=loop uses a loop device (direct I/O to its sparse backing
# file, discarded between runs) for both sides instead.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
server= loop=
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
kind=${IMAGING_TARGET:-file}
$METALOS build -q images/default.toml --inputs "$INPUTS" --inputs target/static-inputs.json --out "$work/image"
$METALOS netboot build -q --image "$work/image" --base-url http://127.0.0.1 --out "$work/bundle"
read -r blob size sha < <(python3 -c "import json,sys;i=json.load(open(sys.argv[1]))['image'];print(i['blob'],i['size'],i['sha256'])" "$work/bundle/manifest.json")
$METALOS netboot serve "$work/bundle" --listen 127.0.0.1:0 > "$work/serve.out" 2>/dev/null &
server=$!
for _ in $(seq 50); do grep -q '^serving' "$work/serve.out" && break; sleep 0.1; done
url=$(sed -n 's|^serving .* at \(http://[0-9.:]*\)/$|\1|p' "$work/serve.out")/$blob
[ "$kind" = loop ] && loop=$(truncate -s "$size" "$work/loop.img" && losetup -f --show -P --direct-io=on "$work/loop.img")

target() { # fresh target for one side: "ours" (pre-created) or "ref"
  if [ -n "$loop" ]; then blkdiscard -f "$loop"; echo "$loop"; return; fi
  rm -f "$work/t.img"
  [ "$1" = ours ] && truncate -s "$size" "$work/t.img"
  echo "$work/t.img"
}
timed() { # command... -> MiB/s of the image
  local t0 t1
  sync
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$size / ($t1 - $t0) / 1048576:.1f}')"
}
ref() { curl -sf "$url" | zstd -dc | dd of="$1" bs=4M conv=fsync status=none; }
ours() { $METALOS -q netboot image-write "$url" --target "$1" --size "$size" --sha256 "$sha"; }
check() { # target: the image, bit for bit
  cmp -n "$size" "$1" "$work/image/disk.img" || { echo "bench/imaging: $2 wrote a different image" >&2; exit 1; }
}

: > "$work/ours.txt"; : > "$work/ref.txt"
for i in $(seq "$RUNS"); do
  # Alternate which side goes first so neither always inherits the other's writeback.
  for side in $( ((i % 2)) && echo "ref ours" || echo "ours ref"); do
    t=$(target "$side")
    timed "$side" "$t" >> "$work/$side.txt"
    [ "$i" -gt 1 ] || check "$t" "$side"
  done
done
read -r o_med o_rng _ < <(stats "$work/ours.txt")
read -r r_med r_rng _ < <(stats "$work/ref.txt")
row imaging "$o_med" "$r_med" MiB/s "$RUNS" "$o_rng" "$r_rng" throughput
echo "  target: $kind; image $((size >> 20)) MiB, blob $(($(stat -c %s "$work/bundle/$blob") >> 20)) MiB; runs: ours $(tr '\n' ';' < "$work/ours.txt") reference $(tr '\n' ';' < "$work/ref.txt")"
echo "  ours: $($METALOS netboot image-write "$url" --target "$(target ours)" --size "$size" --sha256 "$sha" 2>&1 | tail -1)"
