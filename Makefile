# MetalOS developer entry points. See README.md.
#   make image      build the default disk image into out/default/
#   make server-image  build the Debian server image (images/server.toml) into out/server/
#   make test       run the whole test suite (unit, checker and VM tests, Nix flake checks)
#   make vm         boot out/default/disk.img in QEMU (serial console on this terminal)
#   make nix-check  nix flake check + nix build .#disk-image through the nixpkgs stand-in
#   make fuzz       fuzz every decoder of untrusted bytes (FUZZ_SECONDS=N per target; default a smoke run)
#   make bench      run the benchmarks in bench/
#   make static     build metalos, metalos-vm, metalos-bootloader, metalinit statically (scripts/build-static)
#
# One compile: the static release binaries run everything here (inputs
# fetch, build, vm); `make test` reuses them and adds only the test build.

TRIPLE  := x86_64-unknown-linux-gnu
METALOS := target/$(TRIPLE)/release/metalos
METALOS_VM := target/$(TRIPLE)/release/metalos-vm
INPUTS  := .cache/inputs/inputs.json
CARGO   ?= cargo

.PHONY: deps inputs server-rootfs static image server-image test cargo-test vm nix-check nix-check-after-cargo-test fuzz fuzz-after-cargo-test bench clean

deps:
	scripts/install-deps

static: deps
	scripts/build-static

# Always re-run: cached packages are reused, new inputs get fetched.
FETCH_INPUTS := $(METALOS) inputs fetch --dir .cache/inputs
inputs: static
	$(FETCH_INPUTS)

image: inputs
	$(METALOS) build images/default.toml --inputs $(INPUTS) --inputs target/static-inputs.json --out out/default

# Debian bookworm /usr (systemd, openssh-server) from images/server.lock;
# needs root (mmdebstrap keeps file owners). docs/server-image.md.
server-rootfs: inputs
	scripts/build-server-rootfs

server-image: server-rootfs
	$(METALOS) build images/server.toml --inputs $(INPUTS) --inputs target/static-inputs.json --inputs target/server-inputs.json --out out/server

# nix-check after cargo test skips what cargo test just ran on the same
# bytes (scripts/nix-check says what); `make nix-check` alone runs it all.
# Ends with the five slowest tests of the run (scripts/run-tests).
test: cargo-test nix-check-after-cargo-test fuzz-after-cargo-test
	@cat target/test-report.txt

# A whole-suite run builds each crate once: incremental-compilation caches
# would only cost time and 1.3 GB of target/, and without debug info the
# ~100 test binaries take 1.4 GB less (panics still name file and line;
# backtraces name functions). Target-specific, so the test build and the
# fuzz seed tool (same flags, no rebuild) get them; `cargo test` by hand
# keeps Cargo.toml's line tables (and builds its own artifacts).
test: export CARGO_INCREMENTAL = 0
test: export CARGO_PROFILE_DEV_DEBUG = false

nix-check-after-cargo-test: inputs cargo-test
	scripts/nix-check --after-cargo-test

# Every test of the workspace (what `cargo test --workspace` runs), each in
# its own process, one more at a time than cores (one VM slot more than
# that), longest first; TEST_JOBS=N to change. The extra job fills the time
# VM tests spend waiting on guest timers and fixed sleeps (about 9% of the
# CPU was idle with one job per core).
TEST_JOBS ?= $(shell echo $$(( $$(nproc) + 1 )))
#
# The test binaries compile (CPU) while the inputs and the Debian tree
# download and unpack (network, disk): what `inputs` and `server-rootfs`
# do, started beside the build instead of before it.
cargo-test: static
	$(CARGO) test --workspace --no-run --quiet & build=$$!; \
	  { $(FETCH_INPUTS) && scripts/build-server-rootfs; } || { kill $$build; exit 1; }; \
	  wait $$build
	scripts/run-tests -j $(TEST_JOBS)

nix-check: inputs
	scripts/nix-check

# Seeds come from the default image's artifacts; docs/fuzzing.md.
FUZZ_SECONDS ?= 3
fuzz: image
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

# The seed tool then comes from cargo-test's build (no second compile).
fuzz-after-cargo-test: image cargo-test
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz --after-cargo-test

vm: image
	$(METALOS_VM) boot out/default/disk.img

bench: inputs
	bench/run

clean:
	rm -rf out target fuzz/target fuzz/logs
