package styx

import (
	"fmt"
	"testing"
)

// go test ./internal/styx -run X -bench . (docs/performance.md has the figures).

func BenchmarkSearch1000(b *testing.B) {
	ix := bigIndex(b, 1000)
	for b.Loop() {
		if len(ix.Search("wiregrd", "")) == 0 {
			b.Fatal("no hit")
		}
	}
}

func BenchmarkResolve100(b *testing.B) {
	ix := bigIndex(b, 100)
	var reqs []Request
	for _, n := range ix.Names() {
		reqs = append(reqs, Request{Name: n, Range: "^1.0"})
	}
	for b.Loop() {
		if _, err := Resolve(ix, reqs, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// The 100 entries of graphIndex, every one requested: requirements between them, ranges that rule
// out the newest versions, and going back on earlier choices (TestResolveGraph checks the result).
func BenchmarkResolve100Requires(b *testing.B) {
	ix := graphIndex(b, 100)
	var reqs []Request
	for _, n := range ix.Names() {
		reqs = append(reqs, Request{Name: n})
	}
	for b.Loop() {
		if _, err := Resolve(ix, reqs, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSite1000(b *testing.B) {
	ix := bigIndex(b, 1000)
	for b.Loop() {
		if err := BuildSite(ix, "file:///srv/index", b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}

// Twenty Souls installed from a warm artifact cache: resolution, signature checks, unpacking,
// the atomic switch. Each round starts with none of them installed.
func BenchmarkInvoke20Warm(b *testing.B) {
	f := newFixtureTB(b)
	alice := testSigner(b, "alice")
	var refs []string
	for i := range 20 {
		name := fmt.Sprintf("soul-%d", i)
		f.publish(soulDir(b, name, "1.0.0", nil), alice)
		refs = append(refs, name)
	}
	c := f.client()
	if _, err := c.Invoke(ctx, refs, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		for _, r := range refs {
			if _, err := c.Destroy(r); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		res, err := c.Invoke(ctx, refs, nil)
		if err != nil || len(res) != 20 || res[0].Action != "installed" {
			b.Fatalf("%v %v", res, err)
		}
	}
}
