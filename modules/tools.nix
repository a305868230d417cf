# The MetalOS programs: the `metalos` CLI and the PID 1 programs of the
# initrds (metalos-bootloader, metalinit). With pkgsStatic.rustPlatform they
# are static and serve both the build host and the images (one compile).
# Package builds never run the test suite: checks do (flake.nix).
{ rustPlatform, src, version, pname ? "metalos", doCheck ? false, cargoTestFlags ? [ ] }:
rustPlatform.buildRustPackage {
  inherit pname version src doCheck cargoTestFlags;
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [ "-p" "metalos" "-p" "metalos-boot" ];
  meta = {
    description = "MetalOS: build, inspect and boot bare-metal Linux images";
    mainProgram = "metalos";
    license = "MIT OR Apache-2.0";
  };
}
