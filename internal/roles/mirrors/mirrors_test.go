package mirrors

import (
	"strings"
	"testing"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
	"go.yaml.in/yaml/v3"
)

func chob(t *testing.T, y string) *chobolo.Chobolo {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(y), &n); err != nil {
		t.Fatal(err)
	}
	c := &chobolo.Chobolo{Extra: map[string]*yaml.Node{"mirrors": n.Content[0]}}
	c.SetKey("mirrors", chobolo.Pos{})
	return c
}

func TestParseAndConf(t *testing.T) {
	s, err := Parse(chob(t, "{countries: [BR, United States, BR], count: 10}"))
	if err != nil {
		t.Fatal(err)
	}
	want := "--save /etc/pacman.d/mirrorlist\n--protocol https\n--latest 10\n--sort rate\n--country \"BR,United States\"\n"
	if got := Conf(s); !strings.HasSuffix(got, want) {
		t.Errorf("conf =\n%s", got)
	}
	s, err = Parse(chob(t, "{countries: 'DE, FR'}"))
	if err != nil || s.Count != DefaultCount || strings.Join(s.Countries, "|") != "DE|FR" {
		t.Errorf("%+v %v", s, err)
	}
}

func TestHostile(t *testing.T) {
	for _, y := range []string{
		"{countries: ['US; rm -rf /']}", "{countries: ['--url=http://evil']}", "{countries: ['$(id)']}",
		"{countries: [\"US\\nServer\"]}", "{count: 0}", "{count: '5; reboot'}", "{count: -1}", "{bogus: 1}", "[US]",
		"{countries: ['']}",
	} {
		if _, err := Parse(chob(t, y)); err == nil {
			t.Errorf("%s accepted", y)
		}
	}
}

func TestPlan(t *testing.T) {
	s, _ := Parse(chob(t, "{countries: [BR]}"))
	if rp := BuildPlan(s, Facts{}, false, chobolo.Pos{}); !rp.Empty() || len(rp.Notes) != 1 {
		t.Errorf("no reflector: %+v", rp)
	}
	rp := BuildPlan(s, Facts{Reflector: true}, false, chobolo.Pos{})
	if len(rp.Steps) != 1 || len(rp.Steps[0].Ops) != 3 || rp.Steps[0].Ops[2].Argv[0] != "reflector" {
		t.Errorf("plan = %+v", rp)
	}
	if rp := BuildPlan(s, Facts{Reflector: true, Generated: true, HasConf: true, Conf: Conf(s)}, false, chobolo.Pos{}); !rp.Empty() {
		t.Errorf("unchanged: %+v", rp)
	}
	// Someone replaced the mirror list by hand: reflector runs again, the configuration stays.
	rp = BuildPlan(s, Facts{Reflector: true, HasConf: true, Conf: Conf(s)}, false, chobolo.Pos{})
	if len(rp.Steps) != 1 || len(rp.Steps[0].Ops) != 1 {
		t.Errorf("hand-edited list: %+v", rp)
	}
}
