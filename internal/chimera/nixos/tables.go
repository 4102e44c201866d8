package nixos

import "sync"

// The tables below are data: what a Ch-obolo name means on NixOS when it is not simply a package.
// Option paths were checked against the nixpkgs release pinned in pin.go; re-check them with the pin.
//
// Each table is built on first use (sync.OnceValue): package initialisers run at every start of
// chaos (issue 16), and only `chaos chimera compile` reads these.

// setting is one option assignment: a dotted option path and a Nix value written by the generator.
type setting struct {
	path  []string
	value string // raw Nix: true, pkgs.mariadb, [ pkgs.xdg-desktop-portal-gtk ]
}

func enable(path ...string) setting { return setting{path: append(path, "enable"), value: "true"} }

// packageModules are packages: entries that NixOS installs through a module, because the program
// needs system integration (a daemon, groups, setuid wrappers, udev rules). A per-entry `nix:`
// override bypasses the table and installs packages instead.
var packageModules = sync.OnceValue(func() map[string][]setting {
	return map[string][]setting{
		"bluez":               {enable("hardware", "bluetooth")},
		"cups":                {enable("services", "printing")},
		"docker":              {enable("virtualisation", "docker")},
		"flatpak":             {enable("services", "flatpak"), enable("xdg", "portal"), {[]string{"xdg", "portal", "extraPortals"}, "[ pkgs.xdg-desktop-portal-gtk ]"}},
		"gamemode":            {enable("programs", "gamemode")},
		"hyprland":            {enable("programs", "hyprland")},
		"libvirt":             {enable("virtualisation", "libvirtd")},
		"linux-firmware":      {{[]string{"hardware", "enableRedistributableFirmware"}, "true"}},
		"networkmanager":      {enable("networking", "networkmanager")},
		"pipewire":            {enable("services", "pipewire"), enable("services", "pipewire", "alsa"), enable("services", "pipewire", "pulse")},
		"podman":              {enable("virtualisation", "podman")},
		"steam":               {enable("programs", "steam")},
		"sway":                {enable("programs", "sway")},
		"virtualbox":          {enable("virtualisation", "virtualbox", "host")},
		"wireshark":           {enable("programs", "wireshark"), {[]string{"programs", "wireshark", "package"}, "pkgs.wireshark"}},
		"wireshark-qt":        {enable("programs", "wireshark"), {[]string{"programs", "wireshark", "package"}, "pkgs.wireshark"}},
		"xorg":                {enable("services", "xserver")},
		"xorg-server":         {enable("services", "xserver")},
		"polkit":              {enable("security", "polkit")},
		"intel-ucode":         {{[]string{"hardware", "cpu", "intel", "updateMicrocode"}, "true"}},
		"amd-ucode":           {{[]string{"hardware", "cpu", "amd", "updateMicrocode"}, "true"}},
		"mesa":                {enable("hardware", "graphics")},
		"vulkan-radeon":       {enable("hardware", "graphics")},
		"vulkan-intel":        {enable("hardware", "graphics")},
		"lib32-mesa":          {enable("hardware", "graphics"), {[]string{"hardware", "graphics", "enable32Bit"}, "true"}},
		"blueman":             {enable("services", "blueman")},
		"virt-manager":        {enable("programs", "virt-manager")},
		"firejail":            {enable("programs", "firejail")},
		"niri":                {enable("programs", "niri")},
		"i3":                  {enable("services", "xserver", "windowManager", "i3")},
		"i3-wm":               {enable("services", "xserver", "windowManager", "i3")},
		"plasma":              {enable("services", "desktopManager", "plasma6")},
		"plasma-meta":         {enable("services", "desktopManager", "plasma6")},
		"gnome":               {enable("services", "desktopManager", "gnome")},
		"kdeconnect":          {enable("programs", "kdeconnect")},
		"tlp":                 {enable("services", "tlp")},
		"pipewire-pulse":      {enable("services", "pipewire"), enable("services", "pipewire", "pulse")},
		"pipewire-alsa":       {enable("services", "pipewire"), enable("services", "pipewire", "alsa")},
		"pipewire-jack":       {enable("services", "pipewire"), enable("services", "pipewire", "jack")},
		"wireplumber":         {enable("services", "pipewire"), enable("services", "pipewire", "wireplumber")},
		"awesome":             {enable("services", "xserver", "windowManager", "awesome")},
		"bspwm":               {enable("services", "xserver", "windowManager", "bspwm")},
		"herbstluftwm":        {enable("services", "xserver", "windowManager", "herbstluftwm")},
		"openbox":             {enable("services", "xserver", "windowManager", "openbox")},
		"dwm":                 {enable("services", "xserver", "windowManager", "dwm")},
		"xfce4":               {enable("services", "xserver", "desktopManager", "xfce")},
		"mate":                {enable("services", "xserver", "desktopManager", "mate")},
		"lxqt":                {enable("services", "xserver", "desktopManager", "lxqt")},
		"gdm":                 {enable("services", "displayManager", "gdm")},
		"sddm":                {enable("services", "displayManager", "sddm")},
		"lightdm":             {enable("services", "xserver", "displayManager", "lightdm")},
		"containerd":          {enable("virtualisation", "containerd")},
		"fwupd":               {enable("services", "fwupd")},
		"gnome-keyring":       {enable("services", "gnome", "gnome-keyring")},
		"gvfs":                {enable("services", "gvfs")},
		"slock":               {enable("programs", "slock")},
		"udisks2":             {enable("services", "udisks2")},
		"upower":              {enable("services", "upower")},
		"xdg-desktop-portal":  {enable("xdg", "portal")},
		"xf86-input-libinput": {enable("services", "libinput")},
	}
})

// serviceModules map a unit (without .service) to the module that provides and enables it.
var serviceModules = sync.OnceValue(func() map[string][]setting {
	return map[string][]setting{
		"NetworkManager":           {enable("networking", "networkmanager")},
		"accounts-daemon":          {enable("services", "accounts-daemon")},
		"acpid":                    {enable("services", "acpid")},
		"avahi-daemon":             {enable("services", "avahi")},
		"bluetooth":                {enable("hardware", "bluetooth")},
		"chronyd":                  {enable("services", "chrony")},
		"containerd":               {enable("virtualisation", "containerd")},
		"cronie":                   {enable("services", "cron")},
		"cron":                     {enable("services", "cron")},
		"crond":                    {enable("services", "cron")},
		"cups":                     {enable("services", "printing")},
		"docker":                   {enable("virtualisation", "docker")},
		"fail2ban":                 {enable("services", "fail2ban")},
		"fstrim":                   {enable("services", "fstrim")},
		"fwupd":                    {enable("services", "fwupd")},
		"gdm":                      {enable("services", "displayManager", "gdm")},
		"gpm":                      {enable("services", "gpm")},
		"iwd":                      {enable("networking", "wireless", "iwd")},
		"libvirtd":                 {enable("virtualisation", "libvirtd")},
		"lightdm":                  {enable("services", "xserver", "displayManager", "lightdm")},
		"ly":                       {enable("services", "displayManager", "ly")},
		"mariadb":                  {enable("services", "mysql"), {[]string{"services", "mysql", "package"}, "pkgs.mariadb"}},
		"mysqld":                   {enable("services", "mysql"), {[]string{"services", "mysql", "package"}, "pkgs.mariadb"}},
		"nftables":                 {enable("networking", "nftables")},
		"nginx":                    {enable("services", "nginx")},
		"nix-daemon":               {},
		"ntpd":                     {enable("services", "ntp")},
		"power-profiles-daemon":    {enable("services", "power-profiles-daemon")},
		"postgresql":               {enable("services", "postgresql")},
		"rpcbind":                  {enable("services", "rpcbind")},
		"nfs-server":               {enable("services", "nfs", "server")},
		"samba":                    {enable("services", "samba")},
		"smb":                      {enable("services", "samba")},
		"smartd":                   {enable("services", "smartd")},
		"sddm":                     {enable("services", "displayManager", "sddm")},
		"ssh":                      {enable("services", "openssh")},
		"sshd":                     {enable("services", "openssh")},
		"syncthing":                {enable("services", "syncthing")},
		"systemd-networkd":         {{[]string{"networking", "useNetworkd"}, "true"}},
		"systemd-resolved":         {enable("services", "resolved")},
		"systemd-timesyncd":        {enable("services", "timesyncd")},
		"tailscaled":               {enable("services", "tailscale")},
		"thermald":                 {enable("services", "thermald")},
		"tlp":                      {enable("services", "tlp")},
		"udisks2":                  {enable("services", "udisks2")},
		"upower":                   {enable("services", "upower")},
		"wpa_supplicant":           {enable("networking", "wireless")},
		"pipewire":                 {enable("services", "pipewire")},
		"pipewire-pulse":           {enable("services", "pipewire", "pulse")},
		"wireplumber":              {enable("services", "pipewire", "wireplumber")},
		"getty@tty1":               {},
		"systemd-boot-update":      {},
		"systemd-homed":            {enable("services", "homed")},
		"auditd":                   {enable("security", "auditd")},
		"apparmor":                 {enable("security", "apparmor")},
		"earlyoom":                 {enable("services", "earlyoom")},
		"irqbalance":               {enable("services", "irqbalance")},
		"haveged":                  {enable("services", "haveged")},
		"xrdp":                     {enable("services", "xrdp")},
		"jellyfin":                 {enable("services", "jellyfin")},
		"vsftpd":                   {enable("services", "vsftpd")},
		"named":                    {enable("services", "bind")},
		"dnsmasq":                  {enable("services", "dnsmasq")},
		"unbound":                  {enable("services", "unbound")},
		"snapd":                    nil,
		"cockpit":                  {enable("services", "cockpit")},
		"zerotier-one":             {enable("services", "zerotierone")},
		"mullvad-daemon":           {enable("services", "mullvad-vpn")},
		"plexmediaserver":          {enable("services", "plex")},
		"transmission":             {enable("services", "transmission")},
		"grafana-server":           {enable("services", "grafana")},
		"grafana":                  {enable("services", "grafana")},
		"prometheus":               {enable("services", "prometheus")},
		"prometheus-node-exporter": {enable("services", "prometheus", "exporters", "node")},
		"home-assistant":           {enable("services", "home-assistant")},
		"mosquitto":                {enable("services", "mosquitto")},
		"k3s":                      {enable("services", "k3s")},
		"libinput":                 {enable("services", "libinput")},
	}
})

// timerModules map timers (without .timer) to modules. In both tables an empty entry means NixOS
// runs the unit already, and a nil entry means the unit has no meaning on NixOS.
var timerModules = sync.OnceValue(func() map[string][]setting {
	return map[string][]setting{
		"fstrim":                     {enable("services", "fstrim")},
		"logrotate":                  {enable("services", "logrotate")},
		"man-db":                     {},
		"paccache":                   nil,
		"reflector":                  nil,
		"archlinux-keyring-wkd-sync": nil,
	}
})

// shell is what a login shell needs on NixOS.
type shell struct {
	attr    string // nixpkgs attribute; "" for bash, the default user shell
	program bool   // programs.<name>.enable, asserted by users-groups.nix for zsh, fish and xonsh
}

var shells = sync.OnceValue(func() map[string]shell {
	return map[string]shell{
		"bash":    {},
		"zsh":     {attr: "zsh", program: true},
		"fish":    {attr: "fish", program: true},
		"xonsh":   {attr: "xonsh", program: true},
		"nushell": {attr: "nushell"},
		"nu":      {attr: "nushell"},
		"dash":    {attr: "dash"},
		"ksh":     {attr: "mksh"},
		"mksh":    {attr: "mksh"},
		"tcsh":    {attr: "tcsh"},
		"elvish":  {attr: "elvish"},
		"oil":     {attr: "oils-for-unix"},
		"osh":     {attr: "oils-for-unix"},
	}
})

// unfree lists the package names (lib.getName) of unfree attributes the package map can emit, so
// the configuration allows exactly those and nothing else.
var unfree = sync.OnceValue(func() map[string][]string {
	return map[string][]string{
		"_1password-cli":          {"1password-cli"},
		"_1password-gui":          {"1password"},
		"discord":                 {"discord"},
		"google-chrome":           {"google-chrome"},
		"obsidian":                {"obsidian"},
		"slack":                   {"slack"},
		"spotify":                 {"spotify"},
		"steam":                   {"steam", "steam-original", "steam-unwrapped", "steam-run"},
		"vscode":                  {"vscode"},
		"zoom-us":                 {"zoom"},
		"unrar":                   {"unrar"},
		"vivaldi":                 {"vivaldi"},
		"nvidia-settings":         {"nvidia-settings"},
		"sublime4":                {"sublimetext4"},
		"postman":                 {"postman"},
		"anydesk":                 {"anydesk"},
		"teamviewer":              {"teamviewer"},
		"dropbox":                 {"dropbox"},
		"microsoft-edge":          {"microsoft-edge"},
		"jetbrains.idea-ultimate": {"idea-ultimate"},
		"terraform":               {"terraform"},
		"vagrant":                 {"vagrant"},
		"reaper":                  {"reaper"},
		"davinci-resolve":         {"davinci-resolve"},
	}
})
