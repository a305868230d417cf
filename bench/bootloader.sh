# metalos-bootloader's userspace time, kernel `Run /init` → `kexec_core:
# Starting new kernel` (kernel timestamps), for the server image (112 MiB
# /usr) against the default image (24 MiB /usr), under QEMU (TCG) + OVMF.
# The bootloader reads the slot's boot payload through dm-verity, so its
# time follows the payload (the same kernel and setup initrd in both), not
# the slot (docs/verity.md). Needs target/server-inputs.json
# (scripts/build-server-rootfs, `make server-image`).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
if [ ! -f target/server-inputs.json ]; then
  echo "  skipped: no target/server-inputs.json (scripts/build-server-rootfs)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work" images/.bench-bootloader-default.toml images/.bench-bootloader-server.toml' EXIT
# Without `quiet` so the kernel prints the timestamps we need.
for image in default server; do
  sed 's/panic=10 quiet"/panic=10"/' "images/$image.toml" > "images/.bench-bootloader-$image.toml"
done
$METALOS build -q images/.bench-bootloader-default.toml --inputs "$INPUTS" \
  --inputs target/static-inputs.json --out "$work/default"
$METALOS build -q images/.bench-bootloader-server.toml --inputs "$INPUTS" \
  --inputs target/static-inputs.json --inputs target/server-inputs.json --out "$work/server"
ln -s "$work/default/disk.img" "$work/default.img"
ln -s "$work/server/disk.img" "$work/server.img"
measure() { # image name -> seconds in the bootloader; its "verity ok" line on stderr
  local name=$1 log=target/vmtest-logs/metalos-vm/$1/console.log
  # An overlay each time: every run boots the same, untouched image.
  $METALOS vm boot "$work/$name.img" --expect "kexec_core: Starting new kernel" \
    --timeout 300 >/dev/null 2>&1
  python3 - "$log" <<'PY'
import re, sys
log = open(sys.argv[1], errors="replace").read()
ts = lambda pat: [float(m) for m in re.findall(r"\[\s*(\d+\.\d+)\] " + pat, log)]
init, kexec = ts("Run /init as init process"), ts("kexec_core: Starting new kernel")
print(f"{kexec[0] - init[0]:.3f}")
line = next((l for l in log.splitlines() if "verity ok" in l), "no 'verity ok' line")
print("    " + line.strip(), file=sys.stderr)
PY
}
: > "$work/default.txt"; : > "$work/server.txt"
for _ in $(seq "$RUNS"); do
  measure default >> "$work/default.txt"
  measure server >> "$work/server.txt"
done
read -r d_med d_rng _ < <(stats "$work/default.txt")
read -r s_med s_rng _ < <(stats "$work/server.txt")
row bootloader-verify "$s_med" "$d_med" s "$RUNS" "$s_rng" "$d_rng"
