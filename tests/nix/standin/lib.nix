# The few nixpkgs `lib` functions the MetalOS flake uses, with nixpkgs'
# names and semantics (test-only stand-in; see README.md here).
rec {
  optionals = c: l: if c then l else [ ];
  optionalString = c: s: if c then s else "";
  optionalAttrs = c: a: if c then a else { };
  concatStringsSep = builtins.concatStringsSep;
  concatMapStringsSep = sep: f: l: concatStringsSep sep (map f l);
  mapAttrsToList = f: a: map (n: f n a.${n}) (builtins.attrNames a);
  makeBinPath = ps: concatStringsSep ":" (map (p: "${p}/bin") ps);
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  removePrefix = p: s:
    if hasPrefix p s then builtins.substring (builtins.stringLength p) (-1) s else s;
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
  escapeShellArgs = l: concatStringsSep " " (map escapeShellArg l);
}
