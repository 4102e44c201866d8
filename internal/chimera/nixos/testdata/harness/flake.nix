# Evaluates a generated flake.nix's outputs with stub inputs: nixosSystem returns its arguments, so
# the result shows the configuration's name and its module list.
#
#   nix-instantiate --store dummy:// --eval --strict --json flake.nix --arg flake ./flake.nix
{ flake }:
let
  f = import flake;
  out = f.outputs {
    self = { };
    nixpkgs = { lib.nixosSystem = args: args; };
    sops-nix = { nixosModules.sops = "sops-nix.nixosModules.sops"; };
    disko = { nixosModules.disko = "disko.nixosModules.disko"; };
  };
  show = m: if builtins.typeOf m == "path" then "path:" + baseNameOf m else m;
in
{
  inputs = f.inputs;
  configurations = builtins.mapAttrs (_: c: map show c.modules) out.nixosConfigurations;
}
