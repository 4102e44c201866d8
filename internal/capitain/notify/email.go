package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/textproto"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTP is an email channel's server.
type SMTP struct {
	Host string `yaml:"host" json:"host"`
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// TLS is starttls (the default: upgrade the plain connection, refuse a server that cannot),
	// tls (TLS from the first byte, "SMTPS") or none (plain text, only without a password).
	TLS      string `yaml:"tls,omitempty" json:"tls,omitempty"`
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	Password Secret `yaml:"password,omitempty" json:"password,omitempty"`
	// CAFile is a PEM bundle of the CAs to trust instead of the system's (a private mail relay).
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
}

// email sends a multipart/alternative message (plain text and HTML) through go-mail.
type email struct {
	from string
	to   []string
	opts []mail.Option // the client's options; a client is made per attempt (go-mail clients are not concurrent)
	host string
}

func newEmail(c ChannelConfig) (*email, error) {
	s := c.SMTP
	if s.Host == "" {
		return nil, errors.New("smtp.host is empty")
	}
	if c.From == "" || len(c.To) == 0 {
		return nil, errors.New("an email channel needs from and to")
	}
	for _, a := range append([]string{c.From}, c.To...) {
		if err := mail.NewMsg().From(a); err != nil {
			return nil, fmt.Errorf("address %q: %w", a, err)
		}
	}
	tlsConf := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.ca_file: %w", err)
		}
		tlsConf.RootCAs = x509.NewCertPool()
		if !tlsConf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp.ca_file %s: no PEM certificate in it", s.CAFile)
		}
	}
	opts := []mail.Option{mail.WithTLSConfig(tlsConf)}
	port := s.Port
	switch s.TLS {
	case "", "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		port = orDefault(port, 587)
	case "tls":
		opts = append(opts, mail.WithSSL())
		port = orDefault(port, 465)
	case "none":
		if !s.Password.IsZero() {
			return nil, errors.New("smtp.tls none with a password would send it in clear: use starttls or tls")
		}
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		port = orDefault(port, 25)
	default:
		return nil, fmt.Errorf("smtp.tls %q: want starttls, tls or none", s.TLS)
	}
	opts = append(opts, mail.WithPort(port))
	if s.Username != "" || !s.Password.IsZero() {
		pw, err := s.Password.read()
		if err != nil {
			return nil, fmt.Errorf("smtp.password: %w", err)
		}
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.Username), mail.WithPassword(string(pw)))
	}
	return &email{from: c.From, to: c.To, opts: opts, host: s.Host}, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (e *email) send(ctx context.Context, n Notification) error {
	m := mail.NewMsg()
	if err := m.From(e.from); err != nil {
		return permanent(err)
	}
	if err := m.To(e.to...); err != nil {
		return permanent(err)
	}
	m.Subject("[chaos] " + n.Title())
	m.SetMessageID()
	m.SetDate()
	// The notification id ties the mail to the webhook deliveries of the same event.
	m.SetGenHeader("X-Chaos-Delivery", n.ID)
	text, html, err := renderMail(n)
	if err != nil {
		return permanent(err)
	}
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	opts := e.opts
	if dl, ok := ctx.Deadline(); ok {
		// go-mail times each SMTP command out by itself: no longer than the attempt may last.
		left := time.Until(dl)
		if left <= 0 {
			return context.DeadlineExceeded
		}
		opts = append(opts[:len(opts):len(opts)], mail.WithTimeout(left))
	}
	c, err := mail.NewClient(e.host, opts...)
	if err != nil {
		return permanent(fmt.Errorf("smtp client: %w", err))
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		err = fmt.Errorf("smtp %s: %w", e.host, err)
		// A 5xx answer (bad credentials, a recipient refused) is final; 4xx and network errors pass.
		var te *textproto.Error
		var se *mail.SendError
		if errors.As(err, &te) && te.Code >= 500 || errors.As(err, &se) && se.ErrorCode() >= 500 {
			return permanent(err)
		}
		return err
	}
	return nil
}

// renderMail returns the plain-text and HTML bodies of n.
func renderMail(n Notification) (string, string, error) {
	var text, html strings.Builder
	if err := textMail.Execute(&text, n); err != nil {
		return "", "", fmt.Errorf("rendering mail: %w", err)
	}
	if err := htmlMail.Execute(&html, n); err != nil {
		return "", "", fmt.Errorf("rendering mail: %w", err)
	}
	return text.String(), html.String(), nil
}

// mailHostsShown is how many hosts a mail lists; a 10,000-host job's mail stays readable and small.
const mailHostsShown = 100

var mailFuncs = map[string]any{
	"title": Notification.Title,
	"shown": func(h []Host) []Host { return h[:min(len(h), mailHostsShown)] },
	"more":  func(h []Host) int { return max(0, len(h)-mailHostsShown) },
}

var textMail = texttemplate.Must(texttemplate.New("text").Funcs(mailFuncs).Parse(`{{title .}}
{{if .Summary}}
{{.Summary}}
{{end}}
Project: {{.Project}}
Event:   {{.Event}}
{{- with .Job}}
Job:     {{.ID}} ({{.Kind}}, {{.Status}}, triggered by {{.Trigger}}){{if .Commit}}
Commit:  {{.Commit}}{{end}}
{{- end}}
{{if .Hosts}}
Hosts:
{{- range shown .Hosts}}
  {{.Name}}  {{.Status}}{{if .Error}}: {{.Error}}{{end}}
{{- end}}
{{- with more .Hosts}}
  ... and {{.}} more hosts
{{- end}}
{{end}}
{{- if .Link}}
{{.Link}}
{{end}}`))

var htmlMail = htmltemplate.Must(htmltemplate.New("html").Funcs(mailFuncs).Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>{{title .}}</h2>
{{if .Summary}}<p>{{.Summary}}</p>{{end}}
<table>
<tr><th align="left">Project</th><td>{{.Project}}</td></tr>
<tr><th align="left">Event</th><td>{{.Event}}</td></tr>
{{with .Job}}<tr><th align="left">Job</th><td>{{.ID}} ({{.Kind}}, {{.Status}}, triggered by {{.Trigger}})</td></tr>
{{if .Commit}}<tr><th align="left">Commit</th><td><code>{{.Commit}}</code></td></tr>{{end}}{{end}}
</table>
{{if .Hosts}}<table border="1" cellpadding="4" style="border-collapse: collapse">
<tr><th>Host</th><th>Status</th><th>Error</th></tr>
{{range shown .Hosts}}<tr><td>{{.Name}}</td><td>{{.Status}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{with more .Hosts}}<p>... and {{.}} more hosts</p>{{end}}{{end}}
{{if .Link}}<p><a href="{{.Link}}">Open in Capitain</a></p>{{end}}
</body></html>
`))
