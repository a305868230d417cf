# TEST-ONLY stand-in package set (see README.md here). Attribute paths and
# store layouts follow nixpkgs for exactly what the MetalOS flake uses;
# anything else is missing, and a build that needs a tool this set does not
# provide fails, as it would against nixpkgs without that package.
{ host }:
let
  system = host.system;
  lib = import ./lib.nix;

  # stdenv.mkDerivation: bash builder (./builder.sh), host coreutils on PATH,
  # optional src copied into the build directory, then the phases.
  mkDerivation = args@{ pname ? null, version ? null, name ? "${pname}-${version}"
    , nativeBuildInputs ? [ ], buildInputs ? [ ], passthru ? { }, meta ? { }, ... }:
    let
      drvArgs = builtins.removeAttrs args
        [ "passthru" "meta" "nativeBuildInputs" "buildInputs" "pname" "version" "name" ];
      drv = derivation (drvArgs // {
        inherit name system;
        builder = host.shell;
        args = [ "-euo" "pipefail" ./builder.sh ];
        depsPath = lib.makeBinPath (nativeBuildInputs ++ buildInputs);
        hostPath = host.hostPath;
      });
    in
    drv // passthru // { inherit meta; overrideAttrs = f: mkDerivation (args // f args); }
    // lib.optionalAttrs (pname != null) { inherit pname version; };

  runCommand = name: env: buildCommand: mkDerivation (env // { inherit name buildCommand; });

  writeShellApplication = { name, text, runtimeInputs ? [ ], meta ? { } }:
    runCommand name {
      passAsFile = [ "text" ];
      inherit text;
      meta = meta // { mainProgram = name; };
      runtimePath = lib.makeBinPath runtimeInputs;
    } ''
      mkdir -p $out/bin
      { echo '#!${host.shell}'; echo 'set -o errexit -o nounset -o pipefail'
        echo "export PATH=\"$runtimePath:\$PATH\""; cat "$textPath"; } > $out/bin/${name}
      chmod +x $out/bin/${name}
    '';

  # A store path whose files are symlinks to host files (Debian inputs).
  hostLinks = name: links: runCommand name { } (lib.concatStringsSep "\n" (lib.mapAttrsToList
    (to: from: ''mkdir -p "$out/$(dirname ${to})" && ln -s "${from}" "$out/${to}"'') links));

  # A package the stand-in does not provide: evaluates, fails to build.
  missing = name: runCommand name { } ''
    echo "${name} is not provided by the MetalOS nixpkgs stand-in (tests/nix/standin)" >&2
    exit 1
  '';

  # rustPlatform.buildRustPackage: offline cargo against vendored crates
  # (what nixpkgs' importCargoLock makes of cargoLock.lockFile); doCheck
  # defaults to true and runs `cargo test` in release mode, as in nixpkgs.
  mkRustPlatform = { static }: {
    buildRustPackage = args@{ pname, version, src, cargoLock, buildAndTestSubdir ? null
      , cargoBuildFlags ? [ ], cargoTestFlags ? [ ], checkFlags ? [ ], doCheck ? true, ... }:
      let triple = "x86_64-unknown-linux-gnu"; in
      mkDerivation ((builtins.removeAttrs args [ "cargoLock" "cargoBuildFlags" "cargoTestFlags" "checkFlags" ]) // {
        inherit pname version src doCheck;
        lockFile = cargoLock.lockFile;
        cargo = host.rust.cargo;
        RUSTC = host.rust.rustc;
        vendorDir = host.rust.vendorDir;
        cargoFlags = lib.concatStringsSep " " (lib.optionals static [ "--target" triple ]);
        buildFlags = lib.concatStringsSep " " cargoBuildFlags;
        testFlags = lib.concatStringsSep " " cargoTestFlags;
        checkFlags = lib.concatStringsSep " " checkFlags;
        # Static as scripts/build-static does it (glibc + crt-static: this
        # machine has no musl target; nixpkgs' pkgsStatic uses musl). Crate
        # sources are remapped to /crates there and here, so binaries do not
        # depend on where the crates were unpacked.
        extraRustFlags = lib.optionalString static "-C target-feature=+crt-static";
        targetSubdir = if static then "${triple}/release" else "release";
        subdir = if buildAndTestSubdir == null then "." else buildAndTestSubdir;
        buildPhase = ''
          export CARGO_HOME=$TMPDIR/cargo-home CARGO_TARGET_DIR=$PWD/target
          export RUSTFLAGS="$extraRustFlags --remap-path-prefix=$vendorDir=/crates"
          mkdir -p $CARGO_HOME
          printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "%s"\n' \
            "$vendorDir" > $CARGO_HOME/config.toml
          cmp "$lockFile" Cargo.lock   # nixpkgs also insists they match
          (cd "$subdir" && "$cargo" build -j 2 --offline --locked --release $cargoFlags $buildFlags)
        '';
        checkPhase = ''
          (cd "$subdir" && "$cargo" test -j 2 --offline --locked --release $cargoFlags $testFlags -- $checkFlags)
        '';
        installPhase = ''
          mkdir -p $out/bin
          find target/$targetSubdir -maxdepth 1 -type f -executable -exec cp {} $out/bin/ \;
        '';
      });
  };

  linux = hostLinks "linux-${host.kernel.modDirVersion}" {
    "bzImage" = host.kernel.image;
    "lib/modules/${host.kernel.modDirVersion}" = host.kernel.modules;
  } // { modDirVersion = host.kernel.modDirVersion; version = host.kernel.modDirVersion; };

  ovmf = hostLinks "OVMF-fd" { "FV/OVMF_CODE.fd" = host.ovmf.code; "FV/OVMF_VARS.fd" = host.ovmf.vars; };

  pkgs = {
    inherit lib system runCommand writeShellApplication linux;
    stdenv = { inherit mkDerivation; hostPlatform.system = system; buildPlatform.system = system; };
    linuxPackages = { kernel = linux; };
    rustPlatform = mkRustPlatform { static = false; };
    systemd = hostLinks "systemd-stub" { "lib/systemd/boot/efi/linuxx64.efi.stub" = host.systemdStub; };
    OVMF = { fd = ovmf; firmware = "${ovmf}/FV/OVMF_CODE.fd"; variables = "${ovmf}/FV/OVMF_VARS.fd"; };
    qemu = hostLinks "qemu" { "bin/qemu-system-x86_64" = host.qemu; };
    busybox = hostLinks "busybox" { "bin/busybox" = host.busybox; };
    btrfs-progs = hostLinks "btrfs-progs" { "bin/mkfs.btrfs" = host.mkfsBtrfs; };
    cacert = hostLinks "cacert" { "etc/ssl/certs/ca-bundle.crt" = host.caBundle; };
    nixfmt = missing "nixfmt";
  };
in
pkgs // {
  pkgsStatic = pkgs // { rustPlatform = mkRustPlatform { static = true; }; };
}
