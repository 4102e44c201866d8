package config_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ch-aos-ch/chaos/internal/config"
	"github.com/ch-aos-ch/chaos/internal/secrets"
)

// A caller other than the CLI reads config.yml once and gets the secrets the way `chaos apply -s`
// does: the same file (flags, config.yml, the Ch-obolo), the same keys, decrypted in memory.
func Example() {
	cfg, err := config.Load()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	src := secrets.Resolve(nil, secrets.Sources{}, cfg.SecretDefaults("machine.yml"))
	k, err := secrets.LoadKeyring(ctx, cfg.KeyringOptions(""))
	if err != nil {
		log.Fatal(err)
	}
	v, err := secrets.LoadValues(ctx, src, k)
	if err != nil {
		log.Fatal(err)
	}
	_, ok := v.Get("user_secrets.alice.password")
	fmt.Println("alice has a password:", ok, "; generations kept:", cfg.Retention.Keep)
}
