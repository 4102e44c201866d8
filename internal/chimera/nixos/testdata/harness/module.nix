# Evaluates a generated NixOS module without nixpkgs: a stub `pkgs` that holds exactly the
# attributes of the package map (`known`, a JSON list of attribute paths), a stub `lib` with the few
# functions Ch-imera emits, and a `config` that is the module's own result plus the `.path` sops-nix
# gives every secret. The result is plain JSON: packages become "pkgs:<attr>", functions "<lambda>",
# paths "path:<basename>". A package outside the map fails with "attribute '...' missing".
#
#   nix-instantiate --store dummy:// --eval --strict --json module.nix \
#     --arg module ./configuration.nix --argstr known '["git"]' --argstr probe '["steam"]'
{ module, known ? "[ ]", probe ? "[ ]" }:
let
  knownList = builtins.fromJSON known;
  mkPkg = attr: { type = "derivation"; __stub = attr; outPath = "/nix/store/00000000000000000000000000000000-stub"; };
  nest = path: v: if path == [ ] then v else { ${builtins.head path} = nest (builtins.tail path) v; };
  merge = a: b: a // builtins.mapAttrs
    (n: v: if a ? ${n} && builtins.isAttrs v && builtins.isAttrs a.${n} && !(v ? __stub) then merge a.${n} v else v) b;
  split = s: builtins.filter builtins.isString (builtins.split "\\." s);
  dotted = builtins.filter (a: builtins.length (split a) > 1) knownList;
  plain = builtins.filter (a: builtins.length (split a) == 1) knownList;
  pkgs = builtins.foldl' (acc: attr: merge acc (nest (split attr) (mkPkg attr)))
    (builtins.listToAttrs (map (a: { name = a; value = mkPkg a; }) plain)) dotted;
  lib = {
    mkDefault = v: { _mkDefault = v; };
    mkForce = v: { _mkForce = v; };
    getName = p: p.__stub;
  };
  result = (import module) { inherit config lib pkgs; modulesPath = "/modules"; };
  secrets = (result.sops or { }).secrets or { };
  config = result // {
    sops = (result.sops or { }) // {
      secrets = builtins.mapAttrs (n: v: v // { path = "/run/secrets-for-users/" + n; }) secrets;
    };
  };
  strip = v:
    if builtins.isFunction v then "<lambda>"
    else if builtins.typeOf v == "path" then "path:" + baseNameOf v
    else if builtins.isAttrs v then (if v ? __stub then "pkgs:" + v.__stub else builtins.mapAttrs (_: strip) v)
    else if builtins.isList v then map strip v
    else v;
  predicate = ((result.nixpkgs or { }).config or { }).allowUnfreePredicate or (_: false);
in
{
  config = strip result;
  # Which of the package names in `probe` (JSON) the generated allowUnfreePredicate lets through.
  unfree = builtins.filter (name: predicate (mkPkg name)) (builtins.fromJSON probe);
}
