# metalos build (default layout) vs systemd-repart --empty=create with the
# same partitions and contents. Reports median times, their ratio and the
# allocated bytes of each output.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Build once to get the exact /usr tree, ESP files and artifacts of the
# default image; the timed build reuses those artifacts (initrds and UKIs
# are benchmarked in initrd.sh/uki.sh), so both sides only write the disk.
INPUTS2=${INPUTS2:-$PWD/target/static-inputs.json}
$METALOS build -q images/default.toml --inputs "$INPUTS" --inputs "$INPUTS2" --out "$work/ref"
spec=images/.bench-disk.toml
trap 'rm -rf "$work" "$spec"' EXIT
python3 - "$work/ref/artifacts" "$spec" <<'PY'
import re, sys
arts, out = sys.argv[1], sys.argv[2]
t = open("images/default.toml").read()
t = re.sub(r"\[\[(initrds|ukis)\]\]\n(?:[^\[\n][^\n]*\n)*", "", t)
t = re.sub(r'\{ artifact = "([^"]+)" \}', lambda m: '{ file = "%s/%s" }' % (arts, m.group(1)), t)
open(out, "w").write(t)
PY
usr_off=$(python3 -c "import json;m=json.load(open('$work/ref/manifest.json'));p=m['partitions'][1];print(p['offset'])")
dd if="$work/ref/disk.img" of="$work/usr.sqfs" bs=1M skip=$((usr_off >> 20)) count=384 status=none
unsquashfs -q -d "$work/usr" "$work/usr.sqfs" >/dev/null
mkdir -p "$work/esp/metalos"
cp images/host-config.json "$work/esp/metalos/host-config.json"
: > "$work/esp/metalos/first_boot"

defs=$work/repart.d
mkdir -p "$defs"
cat > "$defs/10-esp.conf" <<CONF
[Partition]
Type=esp
Label=EFI-SYSTEM
SizeMinBytes=128M
SizeMaxBytes=128M
Format=vfat
CONF
cat > "$defs/20-usr-a.conf" <<CONF
[Partition]
Type=usr
Label=USR-A
SizeMinBytes=384M
SizeMaxBytes=384M
Format=squashfs
CopyFiles=$work/usr:/
Flags=0x0101000000000000
CONF
cat > "$defs/30-usr-b.conf" <<CONF
[Partition]
Type=usr
Label=USR-B
SizeMinBytes=384M
SizeMaxBytes=384M
CONF
cat > "$defs/50-root.conf" <<CONF
[Partition]
Type=root
Label=ROOT
CONF

seed=6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/disk.json" \
  --prepare "rm -rf $work/r.img" \
  "$METALOS build -q $spec --inputs $INPUTS --inputs $INPUTS2 --out $work/m" \
  "systemd-repart --empty=create --size=1G --seed=$seed --definitions=$defs --dry-run=no $work/r.img" >/dev/null
hyperfine_row disk-build "$work/disk.json"
$METALOS build -q $spec --inputs "$INPUTS" --inputs "$INPUTS2" --out "$work/m"
rm -f $work/r.img
systemd-repart --empty=create --size=1G --seed=$seed --definitions=$defs --dry-run=no $work/r.img >/dev/null 2>&1
echo "  allocated: metalos $(du -B1 "$work/m/disk.img" | cut -f1) bytes, systemd-repart $(du -B1 "$work/r.img" | cut -f1) bytes (both 1 GiB images)"
echo "  note: repart formats the ESP but cannot copy its files (HostConfig, flag, the 15 MiB bootloader UKI) here: no vfat module in this kernel to mount it"
echo "  note: metalos also hashes the image and every partition for manifest.json; repart's squashfs uses mksquashfs defaults (gzip)"
