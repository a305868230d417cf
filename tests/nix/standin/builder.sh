# Builder of the stand-in's stdenv.mkDerivation (run as `bash -euo pipefail`).
# Phases as in nixpkgs' stdenv, reduced to what the MetalOS flake uses:
# unpack `src` into the build directory, then `buildCommand`, or
# buildPhase → checkPhase (when doCheck) → installPhase.
export PATH="${depsPath:+$depsPath:}$hostPath"
# nixpkgs' stdenv exports this (1980-01-01) for reproducible builds.
export SOURCE_DATE_EPOCH=315532800
cd "$TMPDIR"
if [ -n "${src:-}" ]; then
  cp -r --no-preserve=mode "$src" source && cd source
fi
if [ -n "${buildCommand:-}" ]; then eval "$buildCommand"; exit 0; fi
eval "${buildPhase:-}"
if [ "${doCheck:-}" = 1 ]; then eval "${checkPhase:-}"; fi
eval "${installPhase:-}"
