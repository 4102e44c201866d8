package providers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// infisicalAPI speaks Infisical's HTTP API itself, for machines without the Infisical CLI (an
// infisical entry with address:, the Infisical site, e.g. https://app.infisical.com). The endpoints
// are the ones Infisical's own Go SDK calls: GET and POST /api/v3/secrets/raw/NAME with
// workspaceId, environment and secretPath. The token is $INFISICAL_TOKEN (a machine identity's
// access token), else a universal-auth login with $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and
// $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET (the CLI's variables); it travels in a header only.
// Store creates the secret: Infisical refuses one that exists, so a key is never overwritten.
type infisicalAPI struct{ name, api, secret, project, env, path string }

// infisicalAPIBase is the API's root for a site address, as the SDK builds it (SITE/api).
func infisicalAPIBase(addr string) string {
	addr = strings.TrimRight(addr, "/")
	if strings.HasSuffix(addr, "/api") {
		return addr
	}
	return addr + "/api"
}

func (p infisicalAPI) Name() string { return p.name }

func (p infisicalAPI) Fetch(ctx context.Context) ([]byte, error) {
	q := url.Values{"workspaceId": {p.project}, "environment": {p.env}, "secretPath": {p.path}, "type": {"shared"}}
	var out struct {
		Secret struct {
			Value string `json:"secretValue"`
		} `json:"secret"`
	}
	if err := p.do(ctx, http.MethodGet, "/v3/secrets/raw/"+url.PathEscape(p.secret)+"?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	if out.Secret.Value == "" {
		return nil, fmt.Errorf("provider %s: Infisical secret %s is empty", p.name, p.secret)
	}
	return []byte(out.Secret.Value), nil
}

func (p infisicalAPI) Store(ctx context.Context, data []byte) error {
	body := map[string]string{"workspaceId": p.project, "environment": p.env, "secretPath": p.path,
		"secretValue": string(data), "type": "shared"}
	if err := p.do(ctx, http.MethodPost, "/v3/secrets/raw/"+url.PathEscape(p.secret), body, nil); err != nil {
		return fmt.Errorf("%w (an existing secret is never overwritten)", err)
	}
	return nil
}

// token is $INFISICAL_TOKEN, else a universal-auth login's access token.
func (p infisicalAPI) token(ctx context.Context) (string, error) {
	if t := os.Getenv("INFISICAL_TOKEN"); t != "" {
		return t, nil
	}
	id, secret := os.Getenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"), os.Getenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET")
	if id == "" || secret == "" {
		return "", fmt.Errorf("provider %s: no Infisical token: set INFISICAL_TOKEN, or INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", p.name)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := p.request(ctx, "", http.MethodPost, "/v1/auth/universal-auth/login", map[string]string{"clientId": id, "clientSecret": secret}, &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", fmt.Errorf("provider %s: Infisical's universal-auth login returned no access token", p.name)
	}
	return out.AccessToken, nil
}

func (p infisicalAPI) do(ctx context.Context, method, path string, body, out any) error {
	tok, err := p.token(ctx)
	if err != nil {
		return err
	}
	return p.request(ctx, tok, method, path, body, out)
}

// request sends one API call; errors carry Infisical's message, never the token or the body.
func (p infisicalAPI) request(ctx context.Context, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		defer clear(b)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.api+path, rd)
	if err != nil {
		return fmt.Errorf("provider %s: %w", p.name, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("provider %s: %w", p.name, err)
	}
	defer rsp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(rsp.Body, 4<<20))
	defer clear(data)
	if err != nil {
		return fmt.Errorf("provider %s: %s %s: %w", p.name, method, req.URL.Path, err)
	}
	if rsp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("provider %s: Infisical %s %s: %d %s", p.name, method, req.URL.Path, rsp.StatusCode, cmp.Or(e.Message, http.StatusText(rsp.StatusCode)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("provider %s: Infisical %s %s: unexpected answer", p.name, method, req.URL.Path)
		}
	}
	return nil
}
