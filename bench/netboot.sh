# Network imaging: wall time from QEMU start (blank disk, PXE) to the
# imaged system's rootfs, and metalimage's imaging throughput inside the
# VM (stream + decompress + write + read-back verification) against
# `curl | zstd -d | dd conv=fsync` of the same blob on the host.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
$METALOS build -q images/default.toml --inputs "$INPUTS" --inputs target/static-inputs.json --out "$work/image"
$METALOS netboot build -q --image "$work/image" --base-url http://10.0.2.100 \
  --host 52:54:00:12:34:56=images/host-config.json --out "$work/bundle"
blob=$(cd "$work/bundle" && ls blobs/sha256/*)
size=$(stat -c %s "$work/image/disk.img")
port=$((20000 + RANDOM % 20000))
$METALOS netboot serve "$work/bundle" --listen 127.0.0.1:$port >/dev/null 2>&1 &
server=$!
sleep 0.5
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq "$RUNS"); do
  t0=$(date +%s.%N)
  curl -sf "http://127.0.0.1:$port/$blob" | zstd -dc | dd of="$work/host.img" bs=4M conv=fsync status=none
  t1=$(date +%s.%N)
  python3 -c "print(f'{$size / ($t1 - $t0) / 1048576:.1f}')" >> "$work/host.txt"
  rm -f "$work/host.img"
  t0=$(date +%s.%N)
  $METALOS vm netboot "$work/bundle" --expect METALOS-ROOTFS-UP --timeout 600 >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')" >> "$work/wall.txt"
  log=$(ls -t target/vmtest-logs/metalos-vm-netboot/*/console.log | head -1)
  grep -ao 'imaged /dev/vda in [0-9.]* s ([0-9.]* MiB/s' "$log" | sed 's/.*(\([0-9.]*\) MiB\/s/\1/' >> "$work/vm.txt"
done
host=$(median < "$work/host.txt"); vm=$(median < "$work/vm.txt")
echo "  host curl | zstd -d | dd conv=fsync: median $host MiB/s (runs: $(tr '\n' ';' < "$work/host.txt"))"
echo "  metalimage in the VM (TCG), write + read-back: median $vm MiB/s (runs: $(tr '\n' ';' < "$work/vm.txt"))"
echo "  ratio (VM/host): $(python3 -c "print(f'{$vm / $host:.2f}x')")"
echo "  PXE to rootfs wall time: median $(median < "$work/wall.txt") s (runs: $(tr '\n' ';' < "$work/wall.txt"))"
