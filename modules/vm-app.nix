# The `vm` app: boot a disk image in QEMU + OVMF, console on the terminal
# (`nix run .#vm`, `nix run .#vm -- --expect METALOS-ROOTFS-UP`). The image
# stays untouched: the VM writes to an overlay.
{ writeShellApplication, metalos, vmInputs }:
diskImage:
writeShellApplication {
  name = "metalos-vm";
  text = ''
    export METALOS_VM_LOGS="''${METALOS_VM_LOGS:-''${TMPDIR:-/tmp}/metalos-vm}"
    exec ${metalos}/bin/metalos-vm boot ${diskImage}/disk.img --inputs ${vmInputs} "$@"
  '';
}
