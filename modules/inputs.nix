# An inputs manifest (`metalos inputs manifest`) from store paths: the only
# thing the Rust side needs to know about where Nix put its inputs.
#   mkInputs "name" { kernel = "${kernel}/bzImage"; … }
{ lib, runCommand, metalos }:
name: entries:
runCommand "${name}.json" { } ''
  ${metalos}/bin/metalos -q inputs manifest -o $out \
    ${lib.escapeShellArgs (lib.mapAttrsToList (n: p: "${n}=${p}") entries)}
''
