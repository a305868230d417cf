# mkVmCheck: a check that boots built artifacts in QEMU + OVMF (TCG) with
# the project's harness (`metalos-vm check SCENARIO …`, rust/vmtest). The
# output holds the console logs of every machine.
{ lib, runCommand, metalos, vmInputs }:
{ name, scenario, args }:
runCommand "metalos-vm-check-${name}" { } ''
  export METALOS_VM_LOGS=$TMPDIR/vm-logs HOME=$TMPDIR
  status=0
  ${metalos}/bin/metalos-vm check ${scenario} --inputs ${vmInputs} ${lib.escapeShellArgs args} || status=$?
  mkdir -p $out && cp -r $METALOS_VM_LOGS $out/logs
  exit $status
''
