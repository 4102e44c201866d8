package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ch-aos-ch/chaos/internal/transport"
)

// toolTimeout bounds a vagrant or terraform command run to find hosts.
const toolTimeout = 2 * time.Minute

// toolDir is where a host's vagrant or terraform runs: the Ch-obolo's directory for fleet hosts
// (as boats' commands), the working directory for --target ("").
func (f *Fleet) toolDir(h *Host) string {
	if h.Source == "--target" {
		return ""
	}
	return f.Dir
}

// runTool runs a connector's tool (vagrant, terraform) on this machine, in dir ("" for the working
// directory), and returns its stdout; a missing tool or a failure is an error quoting its stderr.
func runTool(ctx context.Context, dir string, argv ...string) ([]byte, error) {
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("%s is not installed on this machine (no %s on PATH)", argv[0], argv[0])
	}
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		if len(msg) > 2000 {
			msg = msg[:2000] + "..."
		}
		return nil, fmt.Errorf("%s: %s", strings.Join(argv[:2], " "), msg)
	}
	return stdout.Bytes(), nil
}

// vagrantSSHConfig fills cfg from `vagrant ssh-config BOX` (run in dir, or where VAGRANT_CWD says):
// its output is an OpenSSH client configuration for the alias BOX (HostName, Port,
// User, IdentityFile), written to a temp file that cfg reads as its ssh config; the caller removes
// the file (returned) once connected. The box's user becomes root through sudo (Vagrant boxes give
// it password-less sudo). A box that is not up is unreachable.
func vagrantSSHConfig(ctx context.Context, dir, name, box string, cfg *transport.SSHConfig) (string, error) {
	out, err := runTool(ctx, dir, "vagrant", "ssh-config", box)
	if err != nil {
		return "", &transport.UnreachableError{Host: name, Err: fmt.Errorf("vagrant box %s is not up or not known: %w", box, err)}
	}
	if !bytes.Contains(out, []byte("HostName")) {
		return "", &transport.UnreachableError{Host: name, Err: fmt.Errorf("vagrant ssh-config %s printed no HostName", box)}
	}
	f, err := os.CreateTemp("", "chaos-vagrant-*.conf")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(out); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	cfg.Host, cfg.SSHConfigFile = box, f.Name()
	cfg.Become = true
	return f.Name(), nil
}

// TerraformHost is one host of a terraform output.
type TerraformHost struct {
	// Key is the map key or the 1-based list position ("" for a single string).
	Key string
	// Spec is its [user@]host[:port].
	Spec transport.Spec
}

// TerraformHosts runs `terraform -chdir=DIR output -json OUTPUT` (OUTPUT defaults to
// transport.DefaultTerraformOutput; a relative DIR is relative to base, "" for the working
// directory) and reads its hosts. The output is a string, a list of strings
// or a map of strings (names to addresses); each string is [user@]host[:port].
func TerraformHosts(ctx context.Context, base, dir, output string) ([]TerraformHost, error) {
	if output == "" {
		output = transport.DefaultTerraformOutput
	}
	if base != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join(base, dir)
	}
	out, err := runTool(ctx, "", "terraform", "-chdir="+dir, "output", "-no-color", "-json", output)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("terraform output %s in %s: not JSON: %v", output, dir, err)
	}
	shape := fmt.Errorf("terraform output %s in %s: want a string, a list of strings or a map of strings (addresses, [user@]host[:port]), got %s",
		output, dir, strings.TrimSpace(string(out)))
	var hosts []TerraformHost
	add := func(key string, a any) error {
		addr, ok := a.(string)
		if !ok {
			return shape
		}
		s, err := transport.ParseSpec(addr)
		if err != nil || s.Kind != transport.KindSSH {
			return fmt.Errorf("terraform output %s in %s: %q is not an SSH address ([user@]host[:port])", output, dir, addr)
		}
		hosts = append(hosts, TerraformHost{Key: key, Spec: s})
		return nil
	}
	switch x := v.(type) {
	case string:
		err = add("", x)
	case []any:
		for i, a := range x {
			if err = add(strconv.Itoa(i+1), a); err != nil {
				break
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err = add(k, x[k]); err != nil {
				break
			}
		}
	default:
		err = shape
	}
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("terraform output %s in %s names no hosts", output, dir)
	}
	return hosts, nil
}

func terraformList(hosts []TerraformHost) string {
	var names []string
	for _, h := range hosts {
		names = append(names, h.Spec.SSHAddr())
	}
	return strings.Join(names, ", ")
}

// ExpandTerraform replaces each @terraform host by the hosts its output names: NAME for a string,
// NAME-KEY for a map entry, NAME-N for the Nth list entry. They are SSH hosts with the terraform
// host's settings, groups and vars; ssh_user and ssh_port win over the address's.
func (f *Fleet) ExpandTerraform(ctx context.Context) error {
	var out []*Host
	var errs []error
	for _, h := range f.Hosts {
		if h.Connector != "terraform" {
			out = append(out, h)
			continue
		}
		s, err := transport.ParseSpec(h.Target)
		if err == nil {
			var hosts []TerraformHost
			if hosts, err = TerraformHosts(ctx, f.toolDir(h), s.Path, s.Output); err == nil {
				for _, th := range hosts {
					n := *h
					n.Connector, n.Target, n.Source = "ssh", "", "terraform "+h.Target
					if th.Key != "" {
						n.Name = h.Name + "-" + th.Key
					}
					n.Address = th.Spec.Host
					if n.User == "" {
						n.User = th.Spec.User
					}
					if n.Port == 0 {
						n.Port = th.Spec.Port
					}
					out = append(out, &n)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	f.Hosts = out
	return nil
}

// ExpandTargets replaces each @terraform --target by the addresses its output names, so that a
// run applies to each of them as an SSH target.
func ExpandTargets(ctx context.Context, targets []string) ([]string, error) {
	var out []string
	for _, t := range targets {
		s, err := transport.ParseSpec(t)
		if err != nil || s.Kind != transport.KindTerraform {
			out = append(out, t)
			continue
		}
		hosts, err := TerraformHosts(ctx, "", s.Path, s.Output)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		for _, h := range hosts {
			out = append(out, h.Spec.SSHAddr())
		}
	}
	return out, nil
}
