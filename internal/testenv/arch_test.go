package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

func TestBuildPacPkg(t *testing.T) {
	data, err := BuildPacPkg(PacPkg{Name: "x", Depends: []string{"y>=1"}, Files: map[string]string{"/usr/bin/x": "#!/bin/sh\n", "/etc/x.conf": "a\n"}, Install: "post_install() { :; }"})
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	var info string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == ".PKGINFO" {
			b, _ := io.ReadAll(tr)
			info = string(b)
		}
		if h.Name == "usr/bin/x" && h.Mode != 0o755 {
			t.Errorf("usr/bin/x mode %o", h.Mode)
		}
	}
	if got := strings.Join(names, " "); got != ".PKGINFO .INSTALL etc/ etc/x.conf usr/ usr/bin/ usr/bin/x" {
		t.Errorf("entries: %s", got)
	}
	for _, want := range []string{"pkgname = x\n", "pkgver = 1.0-1\n", "depend = y>=1\n", "arch = any\n"} {
		if !strings.Contains(info, want) {
			t.Errorf(".PKGINFO lacks %q:\n%s", want, info)
		}
	}
	if _, err := BuildPacPkg(PacPkg{Name: "x", Files: map[string]string{"../etc/x": ""}}); err == nil {
		t.Error("relative path accepted")
	}
}
