package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// TestLeanBinary guards the size and start-up work of issue 16: the chaos binary must not link the
// cloud key-service SDKs that upstream sops pulls in (chaos links the trimmed copy in
// third_party/sops, and go.mod must keep that replace), nor the generated EC2 client (every EC2
// operation, ~20 MB; the ec2 boat calls DescribeInstances itself, internal/fleet/ec2query.go), nor
// a Markdown renderer.
func TestLeanBinary(t *testing.T) {
	root := testenv.RepoRoot(t)
	goList := func(args ...string) ([]byte, error) {
		cmd := exec.Command("go", append([]string{"list"}, args...)...)
		cmd.Dir = root
		return cmd.Output()
	}
	out, err := goList("-deps", "./cmd/chaos")
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/aws/aws-sdk-go-v2/service/kms", "cloud.google.com/go/kms", "cloud.google.com/go/storage",
		"github.com/Azure/azure-sdk-for-go", "github.com/hashicorp/vault", "github.com/huaweicloud",
		"github.com/lib/pq", "github.com/getsops/sops/v3/audit", "github.com/getsops/sops/v3/publish",
		// A Markdown renderer (blackfriday: 0.4 ms of package init at every start) and what brought
		// it: cobra's man generator (internal/manpage writes the pages), sops's CLI version package.
		"github.com/russross/blackfriday", "github.com/cpuguy83/go-md2man", "github.com/spf13/cobra/doc",
		"github.com/urfave/cli", "github.com/getsops/sops/v3/version",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("chaos links %s", pkg)
			}
		}
		// service/ec2/types (plain structs) is fine; the client package is not.
		if pkg == "github.com/aws/aws-sdk-go-v2/service/ec2" {
			t.Errorf("chaos links %s", pkg)
		}
	}
	dir, err := goList("-m", "-f", "{{with .Replace}}{{.Path}}{{end}}", "github.com/getsops/sops/v3")
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	if got := strings.TrimSpace(string(dir)); got != "./third_party/sops" {
		t.Errorf("github.com/getsops/sops/v3 is replaced by %q in %s/go.mod, want ./third_party/sops", got, root)
	}
}

// TestNoHeavyInit guards against package initialisers that do real work at every start: the
// jsonschema copy in third_party/jsonschema compiles the drafts' meta-schemas on first use, where
// upstream's init did it (21,000 allocations, 3 ms). Allocation counts, not times: they do not
// depend on the machine's load.
func TestNoHeavyInit(t *testing.T) {
	bin := testenv.ChaosBinary(t)
	cmd := exec.Command(bin, "--help")
	cmd.Env = append(cmd.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chaos --help: %v\n%s", err, out)
	}
	seen := false
	for _, line := range strings.Split(string(out), "\n") {
		// init PKG @T ms, T ms clock, N bytes, M allocs
		f := strings.Fields(line)
		if len(f) < 10 || f[0] != "init" || f[len(f)-1] != "allocs" {
			continue
		}
		allocs, err := strconv.Atoi(f[len(f)-2])
		if err != nil {
			continue
		}
		if f[1] == "github.com/santhosh-tekuri/jsonschema/v6" {
			seen = true
		}
		if allocs > 2000 {
			t.Errorf("package %s allocates %d times in its initialisers at every start", f[1], allocs)
		}
	}
	if !seen {
		t.Errorf("no init trace of the jsonschema package (not linked any more? then drop its copy):\n%.2000s", out)
	}
	dir, err := exec.Command("go", "list", "-m", "-f", "{{with .Replace}}{{.Path}}{{end}}", "github.com/santhosh-tekuri/jsonschema/v6").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	if got := strings.TrimSpace(string(dir)); got != "./third_party/jsonschema" {
		t.Errorf("github.com/santhosh-tekuri/jsonschema/v6 is replaced by %q, want ./third_party/jsonschema", got)
	}
}
