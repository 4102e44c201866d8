package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ch-aos-ch/chaos/internal/secrets"
)

func (a *app) secretsSetCmd(f *secretFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set KEY.PATH",
		Short: "Set one value, read from stdin (never from the command line)",
		Long: `Set stores the value read from stdin at KEY.PATH (maps are created on the way) and re-encrypts the
file. On a terminal the value is asked for twice without echo; from a pipe, one trailing newline is
removed. The value is never taken from argv, where ps and the shell history would show it.`,
		Example: `  chaos secrets set user_secrets.alice.password
  pass show alice | chaos secrets set user_secrets.alice.password`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return errors.New("set takes only KEY.PATH: the value is read from stdin, never from the command line (ps and shell history would show it)")
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := a.readSecretValue(args[0])
			if err != nil {
				return err
			}
			defer secrets.Wipe(value)
			sf, rf, _, err := a.openSecrets(cmd.Context(), *f, nil)
			if err != nil {
				return err
			}
			defer sf.Close()
			if err := sf.Set(args[0], string(value)); err != nil {
				return err
			}
			out, err := sf.Encrypted()
			if err != nil {
				return err
			}
			if err := secrets.WriteFileAtomic(rf.File, out, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s set in %s\n", args[0], rf.File)
			return nil
		},
	}
}

func (a *app) readSecretValue(path string) ([]byte, error) {
	if fh, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(fh.Fd())) {
		fmt.Fprintf(a.stdout, "value for %s: ", path)
		v1, err := term.ReadPassword(int(fh.Fd()))
		fmt.Fprintln(a.stdout)
		if err != nil {
			return nil, fmt.Errorf("set: %w", err)
		}
		fmt.Fprint(a.stdout, "again: ")
		v2, err := term.ReadPassword(int(fh.Fd()))
		fmt.Fprintln(a.stdout)
		defer secrets.Wipe(v2)
		if err != nil || !bytes.Equal(v1, v2) {
			secrets.Wipe(v1)
			return nil, errors.New("set: the two values differ; nothing changed")
		}
		return v1, nil
	}
	v, err := io.ReadAll(a.stdin)
	if err != nil {
		return nil, fmt.Errorf("set: reading stdin: %w", err)
	}
	v = bytes.TrimSuffix(v, []byte("\n"))
	v = bytes.TrimSuffix(v, []byte("\r"))
	if len(v) == 0 {
		return nil, errors.New("set: empty value on stdin; nothing changed")
	}
	return v, nil
}
