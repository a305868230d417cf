{
  # MetalOS as a flake. Nix is glue: it gathers inputs (kernel, systemd-stub,
  # busybox, OVMF, QEMU) and calls the `metalos` CLI with an inputs manifest
  # of store paths; every byte on disk is decided in Rust. See docs/nix.md.
  description = "MetalOS: reproducible A/B disk images, initrds and UKIs for bare-metal Linux fleets";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      lib = nixpkgs.lib;
      version = "0.1.0";

      # Only what cargo needs: edits elsewhere (docs, Nix, images) do not
      # rebuild the Rust code.
      src = builtins.path {
        name = "metalos-source";
        path = self;
        filter = path: _type:
          let rel = lib.removePrefix (toString self + "/") (toString path); in
          builtins.elem rel [ "Cargo.toml" "Cargo.lock" "rust" "tests" "images" "images/rootfs"
            "images/rootfs/test-agent.sh" ]   # the VM agent script is compiled in
          || lib.hasPrefix "rust/" rel
          || (lib.hasPrefix "tests/" rel && !lib.hasPrefix "tests/nix" rel);
      };

      # The unit tests also read images/ and docs/ (examples they check).
      testSrc = builtins.path {
        name = "metalos-test-source";
        path = self;
        filter = path: _type:
          let rel = lib.removePrefix (toString self + "/") (toString path); in
          !(builtins.elem rel [ "flake.nix" "flake.lock" "modules" "bench" "README.md" "tests/nix" ]);
      };

      # Everything MetalOS makes, for one package set.
      metalosFor = pkgs:
        let
          kernel = pkgs.linuxPackages.kernel;
          metalos = import ./modules/tools.nix {
            inherit src version;
            pname = "metalos-static";
            rustPlatform = pkgs.pkgsStatic.rustPlatform;
          };
          mkInputs = import ./modules/inputs.nix { inherit lib metalos; inherit (pkgs) runCommand; };
          # The inputs manifest names (docs/image-spec.md) that images use.
          defaultInputs = {
            kernel = "${kernel}/bzImage";
            kernel-modules = "${kernel}/lib/modules/${kernel.modDirVersion}";
            systemd-stub = "${pkgs.systemd}/lib/systemd/boot/efi/linuxx64.efi.stub";
            busybox = "${pkgs.pkgsStatic.busybox}/bin/busybox";
            mkfs-btrfs = "${pkgs.btrfs-progs}/bin/mkfs.btrfs";
            # CA certificates the imaging initrd trusts for https:// URLs.
            ca-certificates = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
            metalos = "${metalos}/bin/metalos";
            metalos-bootloader = "${metalos}/bin/metalos-bootloader";
            metalinit = "${metalos}/bin/metalinit";
            metalimage = "${metalos}/bin/metalimage";
          };
          vmInputs = mkInputs "metalos-vm-inputs" {
            ovmf-code = "${pkgs.OVMF.fd}/FV/OVMF_CODE.fd";
            ovmf-vars = "${pkgs.OVMF.fd}/FV/OVMF_VARS.fd";
            qemu = "${pkgs.qemu}";
          };
          common = { inherit lib metalos; inherit (pkgs) runCommand; };
        in
        rec {
          inherit metalos mkInputs defaultInputs vmInputs;
          mkDiskImage = import ./modules/disk-image.nix (common // { inherit mkInputs defaultInputs; });
          mkInitrd = import ./modules/initrd.nix { inherit metalos mkInputs defaultInputs; inherit (pkgs) runCommand; };
          mkUki = import ./modules/uki.nix { inherit metalos kernel; inherit (pkgs) runCommand systemd; };
          mkUpdateBundle = import ./modules/update-bundle.nix { inherit (pkgs) runCommand; };
          mkVmCheck = import ./modules/vm-test.nix (common // { inherit vmInputs; });
          mkVmApp = import ./modules/vm-app.nix { inherit metalos vmInputs; inherit (pkgs) writeShellApplication; };
          # The default image: the same spec file `make image` builds.
          disk-image = mkDiskImage { spec = ./images/default.toml; };
        };

      pkgs = nixpkgs.legacyPackages.${system};
      m = metalosFor pkgs;
      artifact = name: pkgs.runCommand name { } "cp ${m.disk-image}/artifacts/${name} $out";

      # The VM tests' image: the default spec with the test HostConfig (a
      # guest agent on ttyS1, a NIC to rename, a short mark-good delay).
      testImage = m.mkDiskImage {
        name = "metalos-test-image";
        spec = ./images/default.toml;
        hostConfig = ./tests/fixtures/host-config-vm.json;
      };
    in
    {
      packages.${system} = rec {
        # The CLI for your PATH (nixpkgs' rustPlatform, dynamically linked).
        metalos = import ./modules/tools.nix { inherit src version; inherit (pkgs) rustPlatform; };
        # Static metalos, metalos-bootloader and metalinit: what goes into
        # images and initrds, and what the builders below run (with
        # metalos-vm, which the VM checks and apps.vm run; not in images).
        metalos-static = m.metalos;
        bootloader-uki = artifact "bootloader.efi";
        setup-initrd = m.mkInitrd { name = "setup-initrd"; spec = ./images/setup-initrd.toml; };
        disk-image = m.disk-image;
        update-bundle = m.mkUpdateBundle m.disk-image;
        default = disk-image;
      };

      apps.${system} = {
        vm = { type = "app"; program = "${m.mkVmApp m.disk-image}/bin/metalos-vm"; };
        metalos = { type = "app"; program = "${m.metalos}/bin/metalos"; };
      };

      checks.${system} = {
        # Unit tests of every crate (cargo test --lib --bins, release), which
        # also builds the dynamically linked package.
        unit-tests = import ./modules/tools.nix {
          inherit version;
          src = testSrc;
          inherit (pkgs) rustPlatform;
          doCheck = true;
          cargoTestFlags = [ "--workspace" "--lib" "--bins" ];
        };
        # The default image: first boot (GUIDs, ROOT formatted), second boot.
        vm-disk-boot = m.mkVmCheck {
          name = "disk-boot";
          scenario = "boot";
          args = [ "${m.disk-image}/disk.img" ];
        };
        # Stage the image's own bundle into USR-B, boot it, mark it good,
        # roll back to USR-A.
        vm-update-rollback = m.mkVmCheck {
          name = "update-rollback";
          scenario = "update";
          args = [ "${testImage}/disk.img" "--bundle" "${m.mkUpdateBundle testImage}" ];
        };
        # Same inputs, same bytes: a second build elsewhere, and the
        # standalone artifacts against the ones inside the image.
        reproducible = pkgs.runCommand "metalos-reproducible" { } ''
          unset SOURCE_DATE_EPOCH
          ${m.metalos}/bin/metalos -q build "${./images}/default.toml" \
            --inputs ${m.mkInputs "again" m.defaultInputs} --out again
          cmp again/disk.img ${m.disk-image}/disk.img
          cmp ${self.packages.${system}.setup-initrd} ${m.disk-image}/artifacts/setup-initrd
          cmp ${self.packages.${system}.bootloader-uki} again/artifacts/bootloader.efi
          for f in bundle.json usr.img bootloader.efi; do
            cmp again/update/$f ${self.packages.${system}.update-bundle}/$f
          done
          echo "disk.img, setup-initrd, bootloader.efi and the update bundle are bit-identical" > $out
        '';
      };

      # Build your own images: `metalos.lib.x86_64-linux.mkDiskImage { … }`.
      lib.${system} = { inherit (m) mkDiskImage mkInitrd mkUki mkUpdateBundle mkVmCheck mkInputs defaultInputs; };

      overlays.default = final: prev: {
        metalos = (metalosFor final).metalos;
        metalosLib = { inherit (metalosFor final) mkDiskImage mkInitrd mkUki mkUpdateBundle; };
      };

      formatter.${system} = pkgs.nixfmt;
    };
}
