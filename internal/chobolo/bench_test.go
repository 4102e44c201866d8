package chobolo

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoad1000 loads a Ch-obolo of 1,000 files with content (bench/scale.sh's), the loader's
// share of a no-change apply of it (docs/performance.md).
func BenchmarkLoad1000(b *testing.B) {
	var src strings.Builder
	src.WriteString("files:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - path: /srv/scale/f%05d\n    content: \"file %d\\n\"\n", i, i)
	}
	data := []byte(src.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadBytes("scale.yml", data, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
