package pkgmap

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

func TestEntryOrder(t *testing.T) {
	resolve := func(p chobolo.Package, core string) ([]string, bool) {
		if p.Name == "openssh" {
			return []string{"openssh-server", "openssh-client"}, true
		}
		return nil, false
	}
	for _, tc := range []struct {
		p     chobolo.Package
		want  []string
		known bool
	}{
		{chobolo.Package{Name: "openssh", Overrides: map[string][]string{"debian": {"ssh"}}}, []string{"ssh"}, true},
		{chobolo.Package{Name: "openssh", Overrides: map[string][]string{"debian": {}}}, []string{}, true},
		{chobolo.Package{Name: "openssh"}, []string{"openssh-server", "openssh-client"}, true},
		{chobolo.Package{Name: "htop"}, []string{"htop"}, false},
	} {
		got, known, err := Entry(tc.p, "debian", resolve)
		if err != nil || !slices.Equal(got, tc.want) || known != tc.known {
			t.Errorf("Entry(%+v) = %v %v %v", tc.p, got, known, err)
		}
	}
	if _, _, err := Entry(chobolo.Package{}, "debian", nil); err == nil {
		t.Error("a nameless package must be refused")
	}
}

func TestBase(t *testing.T) {
	c := &chobolo.Chobolo{}
	if got, over, err := Base(c, "debian", []string{"apt"}, nil, nil); err != nil || over || !slices.Equal(got, []string{"apt"}) {
		t.Fatalf("no override: %v %v %v", got, over, err)
	}
	c.BaseOverride = []chobolo.Package{{Name: "sudo"}, {Name: "-bad"}}
	c.SetPos("baseOverride[1]", chobolo.Pos{File: "c.yml", Line: 4, Col: 5})
	valid := func(n string) error {
		if strings.HasPrefix(n, "-") {
			return errors.New("leading dash")
		}
		return nil
	}
	if _, _, err := Base(c, "debian", nil, nil, valid); err == nil || !strings.Contains(err.Error(), "c.yml:4:5: baseOverride[1]: leading dash") {
		t.Fatalf("want a positioned error, got %v", err)
	}
	c.BaseOverride = c.BaseOverride[:1]
	if got, over, err := Base(c, "debian", []string{"apt"}, nil, valid); err != nil || !over || !slices.Equal(got, []string{"sudo"}) {
		t.Fatalf("override: %v %v %v", got, over, err)
	}
}
