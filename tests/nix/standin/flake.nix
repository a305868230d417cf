{
  # TEST-ONLY stand-in for nixpkgs: the attribute paths and store layouts the
  # MetalOS flake uses, each a derivation that wraps a host program or a
  # Debian input listed in host.json (written by ./configure). It is NOT
  # nixpkgs. Use: nix build --override-input nixpkgs path:./tests/nix/standin …
  description = "host-backed nixpkgs stand-in for MetalOS CI (x86_64-linux only; test-only)";
  outputs = { self }:
    let
      host = builtins.fromJSON (builtins.readFile ./host.json);
      pkgs = import ./pkgs.nix { inherit host; };
    in
    {
      lib = pkgs.lib;
      legacyPackages.${host.system} = pkgs;
    };
}
