# The A/B update bundle of a disk image (bundle.json, usr.img,
# bootloader.efi), as `metalos build` wrote it: publish this directory and
# hosts stage it with `metalos update stage URL`.
{ runCommand }:
diskImage:
runCommand "${diskImage.name}-update-bundle" { } ''
  cp -r ${diskImage}/update $out
''
