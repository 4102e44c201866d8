package chobolo

import (
	"fmt"
	"strings"
)

// Boilerplate returns a Ch-obolo for `chaos init chobolo` that shows every key with a one-line
// comment, generated from the key table. Every key is commented out ("# key: value"), because
// several sections are full-state: applying an example user list would remove the real users.
// Removing the first "# " of each line gives a valid Ch-obolo; lines starting with "##" are prose,
// and keys written "#   # key" stay commented because they exclude a sibling shown above them.
func Boilerplate() string {
	var b strings.Builder
	b.WriteString(`## Ch-obolo: the declarative description of one machine, for "chaos apply".
## Every key is optional: uncomment what you need. "chaos explain KEY" tells more.
## users, packages, services and files are full-state: what they do not list is removed.
## Values are checked before anything runs ("chaos check chobolo -c FILE").

`)
	for _, k := range topKeys {
		writeKey(&b, k, "", "")
	}
	b.WriteString("\n## Sections owned by other parts of chaos, loaded as written:\n")
	for _, k := range extraKeys {
		fmt.Fprintf(&b, "##   %-14s %s\n", k.name+":", k.doc)
	}
	b.WriteString("## Top-level keys starting with x- are ignored (room for YAML anchors).\n")
	return b.String()
}

// writeKey writes key k at indent. bullet is "- " for the first key of a list item.
func writeKey(b *strings.Builder, k *key, indent, bullet string) {
	prefix := "# "
	if k.hideExample {
		prefix = "# " + indent + "# "
		indent = ""
	}
	lead := prefix + indent + bullet
	switch {
	case k.kind == kindMap:
		line(b, lead+k.name+":", k.doc)
		for _, f := range k.fields {
			writeKey(b, f, indent+strings.Repeat(" ", len(bullet))+"  ", "")
		}
	case k.kind == kindList && k.item.kind == kindMap:
		line(b, lead+k.name+":", k.doc)
		itemIndent := indent + strings.Repeat(" ", len(bullet)) + "  "
		if k.item.shorthand != "" {
			line(b, "# "+itemIndent+"- "+k.item.example, k.item.doc)
		}
		for i, f := range k.item.fields {
			if i == 0 {
				writeKey(b, f, itemIndent, "- ")
				continue
			}
			writeKey(b, f, itemIndent+"  ", "")
		}
	default:
		first, rest, multi := strings.Cut(k.example, "\n")
		line(b, lead+k.name+": "+first, k.doc)
		if multi {
			for l := range strings.SplitSeq(rest, "\n") {
				b.WriteString(strings.TrimRight(prefix+indent+strings.Repeat(" ", len(bullet))+l, " ") + "\n")
			}
		}
	}
}

// line writes text with its comment aligned in a column.
func line(b *strings.Builder, text, comment string) {
	fmt.Fprintf(b, "%-52s # %s\n", text, comment)
}
