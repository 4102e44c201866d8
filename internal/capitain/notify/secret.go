package notify

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret names where a secret is read from: a file (a mounted Kubernetes Secret, a systemd
// credential) or an environment variable, never the configuration itself. One of the two is set.
type Secret struct {
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	Env  string `yaml:"env,omitempty" json:"env,omitempty"`
}

// IsZero reports whether no source is set (the secret is not configured).
func (s Secret) IsZero() bool { return s.File == "" && s.Env == "" }

// String names the source, never the value.
func (s Secret) String() string {
	switch {
	case s.File != "":
		return "file " + s.File
	case s.Env != "":
		return "env " + s.Env
	}
	return "no secret"
}

// Read returns the secret's value, for the server's other secrets named the same way (a project's
// git credentials and webhook secret): the caller must keep it out of logs and errors.
func (s Secret) Read() ([]byte, error) {
	v, err := s.read()
	return []byte(v), err
}

// read returns the secret's value, without the trailing newline a file usually ends with.
func (s Secret) read() (secretValue, error) {
	var v string
	switch {
	case s.File != "" && s.Env != "":
		return nil, errors.New("a secret takes file or env, not both")
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			// The error names the path, not the content.
			return nil, fmt.Errorf("reading secret: %w", err)
		}
		v = string(b)
	case s.Env != "":
		var ok bool
		if v, ok = os.LookupEnv(s.Env); !ok {
			return nil, fmt.Errorf("secret: environment variable %s is not set", s.Env)
		}
	default:
		return nil, errors.New("secret: set file or env")
	}
	v = strings.TrimRight(v, "\r\n")
	if v == "" {
		return nil, fmt.Errorf("secret from %s is empty", s)
	}
	return secretValue(v), nil
}

// secretValue holds a secret in memory; every way of printing it prints a placeholder, so a value
// that ends up in a log line or an error by mistake does not leak.
type secretValue []byte

const redacted = "[redacted]"

func (secretValue) String() string               { return redacted }
func (secretValue) GoString() string             { return redacted }
func (secretValue) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }
func (secretValue) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (secretValue) MarshalYAML() (any, error)    { return redacted, nil }
