# FleetLock lock + unlock round trips per second, p50/p99 latency: one
# `metalos fleet serve` (the library, in release mode) on a one-node etcd
# (Debian's etcd-server, fresh data directory, loopback), for one client
# and for 8 concurrent clients in one group of 8 slots.
# rust/fleet/tests/bench.rs; figures in README.md and docs/fleet-server.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q -p metalos-fleet --test bench --no-run
# The server logs every grant and release on stderr: keep only the figures.
cargo test --release -q -p metalos-fleet --test bench -- --ignored --nocapture 2>/dev/null \
  | grep -E '^(1 client|8 clients)' | sed 's/^/  /'
