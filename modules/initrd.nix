# mkInitrd: `metalos initrd` of an initrd spec (cpio newc + zstd).
#   mkInitrd { spec = ./images/setup-initrd.toml; }
{ runCommand, metalos, mkInputs, defaultInputs }:
{ name ? baseNameOf (toString spec), spec, inputs ? { } }:
let
  manifest = mkInputs "${name}-inputs" (defaultInputs // inputs);
in
runCommand "${name}.img" { } ''
  unset SOURCE_DATE_EPOCH   # the spec decides timestamps (see disk-image.nix)
  ${metalos}/bin/metalos initrd "${dirOf spec}/${baseNameOf spec}" --inputs ${manifest} -o $out
''
