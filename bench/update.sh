# metalos update stage (offline, --disk) vs writing the same /usr bytes with
# dd conv=fsync. Stage also verifies the bundle (signature; the image is
# read once into memory and hashed while the disk's key is looked up from
# its /usr slot and the bootloader's headers and initrd), disables the slot,
# reads the slot back from the medium (O_DIRECT, following the write) and
# writes the GPT twice (backup + primary, each synced); the ESP's bootloader
# is hashed meanwhile (same bundle bootloader: not rewritten).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$METALOS build -q images/default.toml --inputs "$INPUTS" --inputs target/static-inputs.json --out "$work/v1"
# The image's own bundle: same bytes as a real update of the same size.
cp -r "$work/v1/update" "$work/bundle"
offset=$(python3 -c "import json;m=json.load(open('$work/v1/manifest.json'));print([p for p in m['partitions'] if p['slot']==3][0]['offset'])")
size=$(stat -c %s "$work/bundle/usr.img")
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/update.json" \
  --prepare "cp --sparse=always $work/v1/disk.img $work/disk.img && sync" \
  "$METALOS update stage -q $work/bundle --disk $work/disk.img" \
  "dd if=$work/bundle/usr.img of=$work/disk.img bs=1M seek=$((offset / 1048576)) conv=notrunc,fsync status=none" >/dev/null
hyperfine_row update-stage "$work/update.json"
gpt=$(( 4 * (512 + 16384) ))
echo "  bytes written: dd $size; metalos $size + $gpt (GPT: disable + trial, backup and primary); metalos also reads back $size from the medium"
