# mkUki: `metalos uki`, a Unified Kernel Image (systemd-stub + kernel +
# initrd + command line + os-release).
#   mkUki { name = "imaging.efi"; initrd = mkInitrd { … }; cmdline = "console=ttyS0"; }
{ runCommand, metalos, systemd, kernel }:
{ name, initrd, cmdline, osRelease ? ../images/os-release
, stub ? "${systemd}/lib/systemd/boot/efi/linuxx64.efi.stub"
, linux ? "${kernel}/bzImage" }:
runCommand name { inherit cmdline; } ''
  ${metalos}/bin/metalos uki --stub ${stub} --kernel ${linux} --initrd ${initrd} \
    --cmdline "$cmdline" --os-release ${osRelease} -o $out
''
