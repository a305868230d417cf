# Boot time of the default image under QEMU (TCG) + OVMF: wall time from
# QEMU start to the rootfs marker, and the time spent in our initrd
# userspace (metalos-bootloader + metalinit) from kernel timestamps;
# against the floor: a busybox initrd that switch-roots into /usr at once.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
spec=images/.bench-default.toml
trap 'rm -rf "$work" "$spec"' EXIT
# Same image, without `quiet` so the kernel prints the timestamps we need.
sed 's/panic=10 quiet"/panic=10"/' images/default.toml > "$spec"
$METALOS build -q "$spec" --inputs "$INPUTS" --inputs target/static-inputs.json --out "$work/metalos"
$METALOS build -q bench/floor/floor.toml --inputs "$INPUTS" --out "$work/floor"
logdir=target/vmtest-logs/metalos-vm/disk
measure() { # image expect-regex -> "wall userspace kernels firmware+kexec"
  local img=$1 expect=$2 t0 t1
  t0=$(date +%s.%N)
  $METALOS vm boot "$img" --persist --expect "$expect" --timeout 300 >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 - "$logdir/console.log" "$t0" "$t1" <<'PY'
import re, sys
log = open(sys.argv[1], errors="replace").read()
wall = float(sys.argv[3]) - float(sys.argv[2])
# One segment per kernel booted (the bootloader's, then the slot's after
# kexec): kernel time is its own clock at `Run /init`, userspace from
# there to kexec or to the rootfs's init.
kernels = user = 0.0
for seg in re.split(r"\] Linux version ", log)[1:]:
    ts = lambda pat: [float(m) for m in re.findall(r"\[\s*(\d+\.\d+)\] " + pat, seg)]
    init = ts("Run /init as init process")[0]
    end = (ts("kexec_core: Starting new kernel") or ts("Not activating Mandatory Access Control"))[0]
    kernels += init
    user += end - init
print(f"{wall:.2f} {user:.3f} {kernels:.3f} {wall - user - kernels:.3f}")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$work/metalos.txt"; : > "$work/metalos-second.txt"; : > "$work/floor.txt"
for i in $(seq "$RUNS"); do
  cp --sparse=always "$work/metalos/disk.img" "$work/disk.img"
  truncate -s 3G "$work/disk.img"
  measure "$work/disk.img" METALOS-ROOTFS-UP >> "$work/metalos.txt"          # first boot
  measure "$work/disk.img" METALOS-ROOTFS-UP >> "$work/metalos-second.txt"   # same disk again
  cp --sparse=always "$work/floor/disk.img" "$work/disk.img"
  measure "$work/disk.img" "Not activating Mandatory" >> "$work/floor.txt"
done
cut -d' ' -f1 "$work/floor.txt" > "$work/floor.wall"
read -r f_med f_rng _ < <(stats "$work/floor.wall")
for kind in metalos metalos-second; do
  cut -d' ' -f1 "$work/$kind.txt" > "$work/$kind.wall"
  read -r m_med m_rng _ < <(stats "$work/$kind.wall")
  name=boot-first; [ $kind = metalos-second ] && name=boot-later
  row $name "$m_med" "$f_med" s "$RUNS" "$m_rng" "$f_rng"
done
for kind in metalos metalos-second floor; do
  echo "  $kind: wall to rootfs median $(cut -d' ' -f1 "$work/$kind.txt" | median) s: initrd userspace $(cut -d' ' -f2 "$work/$kind.txt" | median) s, kernel start to /init $(cut -d' ' -f3 "$work/$kind.txt" | median) s, the rest (QEMU, OVMF, EFI stub, kexec purgatory) $(cut -d' ' -f4 "$work/$kind.txt" | median) s (runs, wall/user/kernel/rest: $(tr '\n' ';' < "$work/$kind.txt"))"
done
echo "  (metalos = OVMF → bootloader UKI → kexec → setup initrd → switch-root; the first boot includes GUID randomisation, growing ROOT and mkfs.btrfs)"
