package yumrepos_test

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"github.com/ch-aos-ch/chaos/internal/engine/enginetest"
	"github.com/ch-aos-ch/chaos/internal/roles/dnf"
	"github.com/ch-aos-ch/chaos/internal/roles/yumrepos"
	"github.com/ch-aos-ch/chaos/internal/testenv"
	"go.yaml.in/yaml/v3"
)

func withRepos(t *testing.T, c *chobolo.Chobolo, src string) *chobolo.Chobolo {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c.Repos.Extra = map[string]*yaml.Node{"dnf": doc.Content[0]}
	c.SetKey("repos", chobolo.Pos{})
	return c
}

// TestIntegration declares a local repository and a package from it in one Ch-obolo on the
// Fedora-flavoured root: the repo file is written, the metadata made, the package installed; the
// second run changes nothing; dropping the repository removes its file (and only chaos's files).
func TestIntegration(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.FedoraRoot(t)
	testenv.RpmPublish(t, root, testenv.RpmRepoDir, nil, testenv.RpmPkg{Name: "chaos-hello", Files: map[string]string{"/usr/bin/chaos-hello": "#!/bin/sh\necho hi\n"}})
	testenv.WriteFile(t, root, "/etc/yum.repos.d/chaos-handmade.repo", "[handmade]\nbaseurl=file:///nonexistent\nenabled=0\n")
	tr := enginetest.Chroot(t, root)

	c := &chobolo.Chobolo{Packages: []chobolo.Package{{Name: "chaos-hello"}}}
	c.SetKey("packages", chobolo.Pos{})
	c = withRepos(t, c, "- name: local\n  baseurl: file://"+testenv.RpmRepoDir+"\n  gpgcheck: false\n  priority: 5\n- copr: atim/starship\n  enabled: false\n")
	hp := enginetest.ApplyTwice(t, tr, c, yumrepos.New(), dnf.New())
	plan := enginetest.Render(hp)
	t.Logf("first plan:\n%s", plan)
	if !strings.Contains(plan, "makecache") || !strings.Contains(plan, "chaos-handmade.repo was not created by chaos") {
		t.Errorf("plan:\n%s", plan)
	}
	if got := testenv.ReadFile(t, root, "/etc/yum.repos.d/chaos-local.repo"); !strings.Contains(got, "[local]\n") || !strings.Contains(got, "priority=5\n") {
		t.Errorf("chaos-local.repo:\n%s", got)
	}
	if out := testenv.Chroot(t, root, "chaos-hello"); out != "hi\n" {
		t.Errorf("chaos-hello printed %q", out)
	}
	if out := testenv.Chroot(t, root, "dnf", "-q", "-C", "repolist", "--all"); !strings.Contains(out, "copr:copr.fedorainfracloud.org:atim:starship") {
		t.Errorf("dnf repolist:\n%s", out)
	}

	// Dropping the COPR entry removes its file; the handmade file stays.
	c = withRepos(t, c, "- name: local\n  baseurl: file://"+testenv.RpmRepoDir+"\n  gpgcheck: false\n  priority: 5\n")
	enginetest.ApplyTwice(t, tr, c, yumrepos.New(), dnf.New())
	if testenv.Exists(t, root, "/etc/yum.repos.d/chaos-copr-atim-starship.repo") {
		t.Error("the COPR file was not removed")
	}
	if !testenv.Exists(t, root, "/etc/yum.repos.d/chaos-handmade.repo") {
		t.Error("a file chaos did not create was removed")
	}
}
