// Package livetest holds integration tests for the role code that only runs on a live systemd host:
// services started, stopped and re-checked every run, the protection of the unit a session runs in,
// NTP started and stopped, the running hostname set with hostnamectl. Each test boots a fresh Debian
// root with systemd as its init in a systemd-nspawn container (testenv.BootedDebian) and drives the
// engine into it through the nsenter transport. The package has no code of its own.
package livetest
