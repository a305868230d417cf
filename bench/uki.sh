# metalos uki vs the classic `objcopy --add-section … --change-section-vma`
# recipe, same stub, kernel, initrd, cmdline and os-release.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
get() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['inputs'][sys.argv[2]]['path'])" "$INPUTS" "$1"; }
stub=$(get systemd-stub); kernel=$(get kernel)
$METALOS initrd -q tests/fixtures/marker-initrd.toml --inputs "$INPUTS" -o "$work/initrd.img"
echo -n "console=ttyS0" > "$work/cmdline"
cp images/os-release "$work/osrel"
# Section VMAs after the stub's last section, 4 KiB-aligned (the Arch wiki recipe).
cat > "$work/objcopy.sh" <<'SH'
set -e
stub=$1 kernel=$2 w=$3
align=4096
last=$(objdump -h "$stub" | awk 'NF==7 && $1 ~ /^[0-9]+$/ {size=$3; vma=$4} END {print size, vma}')
set -- $last
off=$(( (0x$2 + 0x$1 + align - 1) / align * align ))
osrel=$off
cmdline=$(( (osrel + $(stat -Lc%s "$w/osrel") + align - 1) / align * align ))
initrd=$(( (cmdline + $(stat -Lc%s "$w/cmdline") + align - 1) / align * align ))
linux=$(( (initrd + $(stat -Lc%s "$w/initrd.img") + align - 1) / align * align ))
objcopy --add-section .osrel="$w/osrel" --change-section-vma .osrel=$(printf 0x%x $osrel) \
  --add-section .cmdline="$w/cmdline" --change-section-vma .cmdline=$(printf 0x%x $cmdline) \
  --add-section .initrd="$w/initrd.img" --change-section-vma .initrd=$(printf 0x%x $initrd) \
  --add-section .linux="$kernel" --change-section-vma .linux=$(printf 0x%x $linux) \
  "$stub" "$w/o.efi"
SH
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/uki.json" \
  "$METALOS uki -q --stub $stub --kernel $kernel --initrd $work/initrd.img --cmdline console=ttyS0 --os-release $work/osrel -o $work/m.efi" \
  "bash $work/objcopy.sh $stub $kernel $work" >/dev/null
hyperfine_row uki "$work/uki.json"
echo "  output: metalos $(stat -c %s "$work/m.efi") bytes, objcopy $(stat -c %s "$work/o.efi") bytes"
