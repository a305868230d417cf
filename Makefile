# MetalOS developer entry points. See README.md.
#   make image   build the default disk image into out/default/
#   make test    run the whole test suite (unit, checker, VM tests)
#   make vm      boot out/default/disk.img in QEMU (serial console on this terminal)
#   make bench   run the benchmarks in bench/
#   make static  build the in-initrd binaries statically (scripts/build-static)

INPUTS := .cache/inputs/inputs.json
CARGO  ?= cargo

.PHONY: deps inputs static image test vm bench clean

deps:
	scripts/install-deps

# Always re-run: cached packages are reused, new inputs get fetched.
inputs: deps
	$(CARGO) run -q -p metalos -- inputs fetch --dir .cache/inputs

static:
	scripts/build-static

image: inputs static
	$(CARGO) run -q --release -p metalos -- build images/default.toml --inputs $(INPUTS) --inputs target/static-inputs.json --out out/default

test: inputs static
	$(CARGO) test --workspace --no-fail-fast

vm: image
	$(CARGO) run -q --release -p metalos -- vm boot out/default/disk.img

bench: inputs
	bench/run

clean:
	rm -rf out target
