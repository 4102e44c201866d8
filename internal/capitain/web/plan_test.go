package web

import "testing"

func TestPlanHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"\x1b[2m  -old\x1b[0m", `<span class="diff-del"><span class="term-fg2">  -old</span></span>`},
		{"  +new", `<span class="diff-add">  +new</span>`},
		{"\x1b[33m~\x1b[0m /etc/motd", `<span class="term-fg33">~</span> &#47;etc&#47;motd`},
		{"a <b> & c", `a &lt;b&gt; &amp; c`},
		{"  -<script>", `<span class="diff-del">  -&lt;script&gt;</span>`},
	} {
		if got := string(planHTML([]byte(c.in))); got != c.want {
			t.Errorf("planHTML(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
