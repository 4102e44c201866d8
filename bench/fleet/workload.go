package fleet

import (
	"fmt"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/testenv"
)

// Workload is the fleet benchmarks' Ch-obolo on the hosts hs: 5 users (USER0..USER4), a directory
// /srv/bench-NAME with 20 files, and /etc/bench-NAME.conf. TestFleetVsAnsible runs it against
// Ansible's playbook of the same work, bench's TestCapitainVsApply through Capitain.
func Workload(hs *testenv.SSHHosts, user, name string) string {
	var b strings.Builder
	b.WriteString("users:\n")
	for i := range 5 {
		fmt.Fprintf(&b, "  - name: %s%d\n    shell: /bin/bash\n", user, i)
	}
	fmt.Fprintf(&b, "files:\n  - path: /srv/bench-%s\n    state: directory\n    mode: \"0755\"\n", name)
	for i := range 20 {
		fmt.Fprintf(&b, "  - path: /srv/bench-%s/f%02d\n    content: \"content %d\\n\"\n    mode: \"0644\"\n", name, i, i)
	}
	// chaos manages whole files: the "line in a file" is a file holding that line.
	fmt.Fprintf(&b, "  - path: /etc/bench-%s.conf\n    content: \"bench=1\\n\"\n", name)
	fmt.Fprintf(&b, "fleet:\n  parallelism: 0\n  ssh: {known_hosts: %s, config: none}\n  hosts:\n", hs.KnownHosts)
	for _, h := range hs.Hosts {
		fmt.Fprintf(&b, "    %s: {ssh_hostname: %s, ssh_user: root, ssh_key: %s}\n", h.Name, h.Addr, hs.KeyFile)
	}
	return b.String()
}
