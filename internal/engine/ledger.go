package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/shell"
)

// LedgerPath is where a host records the objects chaos created, so that full-state roles prune
// only their own creations (files, repositories, ...). It is line-oriented ("DOMAIN<TAB>ITEM") so
// that a probe fragment can read one domain with a single awk, without parsing JSON in sh.
const LedgerPath = "/var/lib/chaos/ledger.tsv"

const ledgerHeader = "# chaos ledger v1: DOMAIN<TAB>ITEM, one object chaos created per line\n"

// LedgerItems is a probe fragment that prints the items of one ledger domain, one per line.
func LedgerItems(domain string) string {
	return "awk -F '\\t' -v d=" + shell.Quote(domain) + " '$1 == d { print substr($0, length(d) + 2) }' " +
		LedgerPath + " 2>/dev/null; true"
}

// ParseLedger reads a ledger file.
func ParseLedger(data []byte) (map[string][]string, error) {
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		domain, item, ok := strings.Cut(line, "\t")
		if !ok || domain == "" || item == "" {
			return nil, fmt.Errorf("%s:%d: not DOMAIN<TAB>ITEM", LedgerPath, n)
		}
		out[domain] = append(out[domain], item)
	}
	return out, sc.Err()
}

// formatLedger writes domains in a stable order. Items that could break the format are refused:
// roles validate them long before, so this only guards the file.
func formatLedger(l map[string][]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(ledgerHeader)
	domains := slices.Collect(maps.Keys(l))
	sort.Strings(domains)
	for _, d := range domains {
		for _, it := range l[d] {
			if strings.ContainsAny(d, "\t\n") || d == "" || strings.ContainsAny(it, "\n") || it == "" {
				return nil, fmt.Errorf("ledger: refusing item %q in domain %q", it, d)
			}
			b.WriteString(d + "\t" + it + "\n")
		}
	}
	return b.Bytes(), nil
}

// ledgerData merges the roles' ledger domains into the host ledger: the new content, and whether
// it changed.
func (e *Engine) ledgerData(hp *HostPlan) ([]byte, bool, error) {
	next := maps.Clone(hp.ledger)
	if next == nil {
		next = map[string][]string{}
	}
	for _, rp := range hp.Roles {
		for domain, items := range rp.Ledger {
			items = slices.Clone(items)
			slices.Sort(items)
			items = slices.Compact(items)
			if len(items) == 0 {
				delete(next, domain)
			} else {
				next[domain] = items
			}
		}
	}
	if maps.EqualFunc(next, hp.ledger, slices.Equal) {
		return nil, false, nil
	}
	data, err := formatLedger(next)
	return data, err == nil, err
}
