#!/bin/sh
# metalos-vmtest guest agent: runs commands from the harness on /dev/ttyS1.
# Protocol: see the metalos_vmtest::agent documentation.
tty=/dev/ttyS1
i=0
while [ ! -c $tty ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
stty -F $tty raw -echo -onlcr 2>/dev/null
exec <$tty >$tty 2>&1
echo "@@METALOS-AGENT-READY@@"
while read -r n b; do
  [ -n "$n" ] || continue
  echo "$b" | base64 -d > /tmp/.metalos-agent-cmd
  sh /tmp/.metalos-agent-cmd </dev/null
  s=$?
  printf '\n@@METALOS-AGENT-%s-%s@@\n' "$n" "$s"
done
