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

$(INPUTS):
	$(CARGO) run -q -p metalos -- inputs fetch --dir .cache/inputs

inputs: deps $(INPUTS)

static:
	scripts/build-static

image: inputs
	$(CARGO) run -q --release -p metalos -- build images/default.toml --inputs $(INPUTS) --out out/default

test: inputs static
	$(CARGO) test --workspace --no-fail-fast

vm: image
	$(CARGO) run -q --release -p metalos -- vm boot out/default/disk.img

bench: inputs
	bench/run

clean:
	rm -rf out target
