# mkDiskImage: `metalos build` of an image spec. Every byte of the result is
# decided by the spec and the CLI; Nix only supplies the inputs.
#   mkDiskImage { spec = ./my-image/image.toml; hostConfig = ./host.json;
#                 inputs = { my-tool = "${pkgs.foo}/bin/foo"; }; }
# The spec's directory is copied with it, so its relative `file = …`
# sources resolve as they do for `metalos build` on a checkout. Output:
# disk.img, manifest.json, artifacts/ (initrds, UKIs) and update/ (bundle).
{ lib, runCommand, metalos, mkInputs, defaultInputs }:
{ name ? "metalos-disk-image", spec, hostConfig ? null, inputs ? { } }:
let
  manifest = mkInputs "${name}-inputs" (defaultInputs // inputs);
in
runCommand name { } ''
  # Timestamps come from the spec (its `mtime`, default 0), not from the
  # builder's environment: the image equals `metalos build` on any host.
  unset SOURCE_DATE_EPOCH
  ${metalos}/bin/metalos build "${dirOf spec}/${baseNameOf spec}" --inputs ${manifest} \
    ${lib.optionalString (hostConfig != null) "--host-config ${hostConfig}"} --out $out
''
