# The MetalOS programs: the `metalos` CLI, the VM tools (`metalos-vm`, build
# host only: the VM checks and apps.vm) and the PID 1 programs of the
# initrds (metalos-bootloader, metalinit). With pkgsStatic.rustPlatform they
# are static and serve both the build host and the images (one compile).
# Every binary of the two packages is installed into bin/.
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
