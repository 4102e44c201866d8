package vault

import "testing"

// The original Ch-aOS's Vault item reads back as written, and is found among other lines.
func TestCredentialsFormat(t *testing.T) {
	c := Credentials{Addr: "https://vault.example:8200", Token: "hvs.abc"}
	got, ok := ParseCredentials(append([]byte("# NO-IMPORT\n"), c.Format()...))
	if !ok || got != c {
		t.Errorf("ParseCredentials(Format()) = %+v, %v", got, ok)
	}
	if _, ok := ParseCredentials([]byte("AGE-SECRET-KEY-1XYZ\n# Vault Address:: x\n")); ok {
		t.Error("an address without a token counted as credentials")
	}
}
