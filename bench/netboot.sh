# Network imaging in a VM (QEMU, TCG): wall time from QEMU start with a
# blank 3 GiB disk (PXE → iPXE → imaging UKI → metalimage writes and reads
# back the image → kexec) to the imaged system's rootfs, against a plain
# first boot of the same imaged disk (`metalos vm boot`: OVMF → bootloader
# UKI → kexec → rootfs). The ratio is what network imaging adds to a boot.
#
# The reference disk is imaged on the host by metalimage's write path
# (`metalos netboot image-write`, same bundle, blank 3 GiB disk); the
# image's ESP already holds the HostConfig the bundle serves for this MAC,
# so it is the disk metalimage leaves before that first boot.
# metalimage's throughput inside the VM is printed, not recorded (TCG);
# bench/imaging.sh measures the write path natively.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
$METALOS build -q images/default.toml --inputs "$INPUTS" --inputs target/static-inputs.json --out "$work/image"
$METALOS netboot build -q --image "$work/image" --base-url http://10.0.2.100 \
  --host 52:54:00:12:34:56=images/host-config.json --out "$work/bundle"
read -r blob size sha < <(python3 -c "import json,sys;i=json.load(open(sys.argv[1]))['image'];print(i['blob'],i['size'],i['sha256'])" "$work/bundle/manifest.json")
$METALOS netboot serve "$work/bundle" --listen 127.0.0.1:0 > "$work/serve.out" 2>/dev/null &
server=$!
for _ in $(seq 50); do grep -q '^serving' "$work/serve.out" && break; sleep 0.1; done
url=$(sed -n 's|^serving .* at \(http://[0-9.:]*\)/$|\1|p' "$work/serve.out")/$blob

seconds() { # command... -> wall seconds until it exits (it must succeed)
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "bench/netboot: failed: $*" >&2; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')"
}
: > "$work/pxe.txt"; : > "$work/boot.txt"; : > "$work/vm.txt"
for _ in $(seq "$RUNS"); do
  seconds $METALOS vm netboot "$work/bundle" --disk-size 3GiB --expect METALOS-ROOTFS-UP --timeout 600 >> "$work/pxe.txt"
  log=$(ls -t target/vmtest-logs/metalos-vm-netboot/*/console.log | head -1)
  grep -ao 'imaged /dev/vda in [0-9.]* s ([0-9.]* MiB/s' "$log" | sed 's/.*(\([0-9.]*\) MiB\/s/\1/' >> "$work/vm.txt" || true
  rm -f "$work/disk.img"
  truncate -s 3G "$work/disk.img"
  $METALOS -q netboot image-write "$url" --target "$work/disk.img" --size "$size" --sha256 "$sha"
  seconds $METALOS vm boot "$work/disk.img" --persist --expect METALOS-ROOTFS-UP --timeout 600 >> "$work/boot.txt"
done
read -r p_med p_rng _ < <(stats "$work/pxe.txt")
read -r b_med b_rng _ < <(stats "$work/boot.txt")
row pxe-to-rootfs "$p_med" "$b_med" s "$RUNS" "$p_rng" "$b_rng"
if [ -s "$work/vm.txt" ]; then
  echo "  info: metalimage in the VM (TCG), stream + write + read-back: $(stats "$work/vm.txt" | awk '{print "median " $1 " MiB/s (" $2 ")"}')"
else
  echo "  info: no 'imaged /dev/vda in … MiB/s' line in the console logs"
fi
