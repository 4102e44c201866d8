package chimera

import (
	"bytes"
	"strings"

	"github.com/ch-aos-ch/chaos/internal/chobolo"
)

// Mapping ties one generated line (1-based) to the Ch-obolo position it came from.
type Mapping struct {
	Line int         `json:"line"`
	Pos  chobolo.Pos `json:"pos"`
}

// File is one generated file, relative to the output directory.
type File struct {
	Path    string
	Content []byte
	Map     []Mapping
}

// Writer builds a generated file line by line, remembering where each line came from and keeping
// the indentation. Back ends write only escaped text into it: Writer does not escape.
type Writer struct {
	buf    bytes.Buffer
	line   int
	indent int
	unit   string
	maps   []Mapping
}

// NewWriter returns a Writer that indents nested blocks with unit (e.g. two spaces).
func NewWriter(unit string) *Writer { return &Writer{unit: unit} }

// Line writes one line at the current indentation. A zero pos means "generated, no source".
func (w *Writer) Line(pos chobolo.Pos, text string) {
	w.line++
	if text != "" {
		w.buf.WriteString(strings.Repeat(w.unit, w.indent))
		w.buf.WriteString(text)
	}
	w.buf.WriteByte('\n')
	if pos.Line > 0 {
		w.maps = append(w.maps, Mapping{Line: w.line, Pos: pos})
	}
}

// Blank writes an empty line.
func (w *Writer) Blank() { w.Line(chobolo.Pos{}, "") }

// Open writes a line and indents what follows; Close dedents and writes its line.
func (w *Writer) Open(pos chobolo.Pos, text string) {
	w.Line(pos, text)
	w.indent++
}

// Close dedents and writes text (e.g. "};").
func (w *Writer) Close(text string) {
	if w.indent > 0 {
		w.indent--
	}
	w.Line(chobolo.Pos{}, text)
}

// File returns the finished file at path.
func (w *Writer) File(path string) File {
	return File{Path: path, Content: bytes.Clone(w.buf.Bytes()), Map: append([]Mapping(nil), w.maps...)}
}
