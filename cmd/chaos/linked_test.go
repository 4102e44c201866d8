package main

import (
	"os/exec"
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
