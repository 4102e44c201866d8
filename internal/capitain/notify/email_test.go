package notify

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	smtpUser     = "capitain"
	smtpPassword = "smtp-pass-for-tests"
)

// mailbox is a real SMTP server (go-smtp) on loopback that keeps what it receives, with whether
// the session was encrypted when the message came and who authenticated.
type mailbox struct {
	addr string
	mu   sync.Mutex
	got  []receivedMail
}

type receivedMail struct {
	from, user string
	to         []string
	tls        bool
	data       []byte
}

// startMailbox serves SMTP in one of the channel's modes: "starttls" (plain, upgraded), "tls"
// (TLS from the first byte) or "none" (plain, no AUTH).
func startMailbox(t *testing.T, mode string) (*mailbox, string) {
	t.Helper()
	cert, caFile := testCert(t)
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{mb: mb, conn: c, needAuth: mode != "none"}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0) // connections closed at the end of a test
	srv.AllowInsecureAuth = false             // AUTH only once the session is encrypted, as a real server
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}}
	var ln net.Listener
	var err error
	switch mode {
	case "tls":
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConf)
	case "starttls":
		srv.TLSConfig = tlsConf
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	default:
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb, caFile
}

func (mb *mailbox) mails() []receivedMail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]receivedMail(nil), mb.got...)
}

type mailSession struct {
	mb       *mailbox
	conn     *smtp.Conn
	needAuth bool
	cur      receivedMail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPassword {
			return smtp.ErrAuthFailed // 535, as real servers answer
		}
		s.cur.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.needAuth && s.cur.user == "" {
		return smtp.ErrAuthRequired
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.mb.mu.Lock()
	s.mb.got = append(s.mb.got, s.cur)
	s.mb.mu.Unlock()
	s.cur = receivedMail{user: s.cur.user}
	return nil
}

func (s *mailSession) Reset()        { s.cur = receivedMail{user: s.cur.user} }
func (s *mailSession) Logout() error { return nil }

func emailConfig(t *testing.T, mb *mailbox, mode, caFile string, password Secret) Config {
	host, port, _ := net.SplitHostPort(mb.addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	smtpConf := SMTP{Host: host, Port: p, TLS: mode, CAFile: caFile}
	if !password.IsZero() {
		smtpConf.Username, smtpConf.Password = smtpUser, password
	}
	return Config{
		Channels: []ChannelConfig{{Name: "mail", Type: "email", SMTP: smtpConf, From: "capitain@example.com", To: []string{"oncall@example.com", "lead@example.com"}}},
		Rules:    []Rule{{Name: "all", Channels: []string{"mail"}}},
	}
}

func TestEmailThroughRealSMTP(t *testing.T) {
	for _, mode := range []string{"starttls", "tls", "none"} {
		t.Run(mode, func(t *testing.T) {
			mb, caFile := startMailbox(t, mode)
			var pw Secret
			if mode != "none" {
				pw = writeSecret(t, smtpPassword)
			}
			rec := newRecorder()
			d, err := New(emailConfig(t, mb, mode, caFile, pw), rec.hooks)
			if err != nil {
				t.Fatal(err)
			}
			n := sampleNotification()
			n.ID = "0123456789abcdef0123456789abcdef"
			n.Hosts[0].Error = "<script>alert(1)</script>"
			d.Notify(n)
			closeDispatcher(t, d)
			if dead := rec.deadLetters(); len(dead) > 0 {
				t.Fatalf("not delivered: %s", dead[0].Error)
			}
			got := mb.mails()
			if len(got) != 1 {
				t.Fatalf("mailbox got %d mails, want 1", len(got))
			}
			m := got[0]
			if m.tls != (mode != "none") {
				t.Errorf("session encrypted = %v in mode %s", m.tls, mode)
			}
			if mode != "none" && m.user != smtpUser {
				t.Errorf("authenticated as %q", m.user)
			}
			if m.from != "capitain@example.com" || strings.Join(m.to, ",") != "oncall@example.com,lead@example.com" {
				t.Errorf("envelope from %q to %v", m.from, m.to)
			}
			checkMail(t, m.data)
			if strings.Contains(rec.logText(), smtpPassword) {
				t.Error("the SMTP password is in the log")
			}
		})
	}
}

// checkMail parses a received message: subject, delivery id, and a text and an HTML part with
// the notification in them, the HTML escaped.
func checkMail(t *testing.T, data []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[chaos] project shop: job 42 (apply) failed on 2 hosts" {
		t.Errorf("subject = %q (%v)", subject, err)
	}
	if id := msg.Header.Get("X-Chaos-Delivery"); id != "0123456789abcdef0123456789abcdef" {
		t.Errorf("X-Chaos-Delivery = %q", id)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(body)
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{"project shop: job 42 (apply) failed on 2 hosts", "1 of 2 hosts failed <check> & retry", "web1  failed: <script>alert(1)</script>", "Commit:  9f1c2e3d4b5a", "https://capitain.example.com/jobs/42"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"<h2>project shop: job 42 (apply) failed on 2 hosts</h2>", "1 of 2 hosts failed &lt;check&gt; &amp; retry", "&lt;script&gt;alert(1)&lt;/script&gt;", `<a href="https://capitain.example.com/jobs/42">`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Errorf("HTML part carries a raw <script>")
	}
}

func TestEmailStartTLSRefusesAPlainServer(t *testing.T) {
	// A server without STARTTLS (or a network that strips it): the password must not be sent.
	mb, caFile := startMailbox(t, "none")
	rec := newRecorder()
	cfg := emailConfig(t, mb, "starttls", caFile, writeSecret(t, smtpPassword))
	cfg.Delivery = DeliveryConfig{Attempts: 1}
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	dead := rec.deadLetters()
	if len(dead) != 1 || !strings.Contains(strings.ToLower(dead[0].Error), "starttls") {
		t.Fatalf("dead letters = %+v, want one about STARTTLS", dead)
	}
	if len(mb.mails()) != 0 {
		t.Error("the mail went out in clear")
	}
}

func TestEmailRefusesAnUntrustedCertificate(t *testing.T) {
	mb, _ := startMailbox(t, "tls")
	rec := newRecorder()
	cfg := emailConfig(t, mb, "tls", "", writeSecret(t, smtpPassword)) // the system's CAs only
	cfg.Delivery = DeliveryConfig{Attempts: 1}
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	dead := rec.deadLetters()
	if len(dead) != 1 || !strings.Contains(dead[0].Error, "certificate") || len(mb.mails()) != 0 {
		t.Fatalf("dead letters = %+v, mails %d: want a refused certificate", dead, len(mb.mails()))
	}
}

func TestEmailListsAHundredHosts(t *testing.T) {
	n := sampleNotification()
	n.Hosts = nil
	for i := range 150 {
		n.Hosts = append(n.Hosts, Host{Name: fmt.Sprintf("node%03d", i), Status: "failed"})
	}
	text, html, err := renderMail(n)
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(text, "  failed\n"); c != 100 || !strings.Contains(text, "... and 50 more hosts") || strings.Contains(text, "node100") {
		t.Errorf("text part lists %d hosts:\n%s", c, text)
	}
	if c := strings.Count(html, "<tr><td>node"); c != 100 || !strings.Contains(html, "<p>... and 50 more hosts</p>") {
		t.Errorf("HTML part lists %d hosts", c)
	}
}

func TestEmailWrongPasswordIsNotLeaked(t *testing.T) {
	mb, caFile := startMailbox(t, "starttls")
	const wrong = "not-the-password-4711"
	rec := newRecorder()
	cfg := emailConfig(t, mb, "starttls", caFile, writeSecret(t, wrong))
	cfg.Delivery = DeliveryConfig{Backoff: time.Millisecond, MaxBackoff: time.Millisecond}
	d, err := New(cfg, rec.hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(sampleNotification())
	closeDispatcher(t, d)
	dead := rec.deadLetters()
	if len(dead) != 1 || dead[0].Attempts != 1 || !strings.Contains(dead[0].Error, "535") || len(mb.mails()) != 0 {
		t.Fatalf("dead letters = %+v: want one refused authentication, not retried", dead)
	}
	if strings.Contains(dead[0].Error, wrong) || strings.Contains(rec.logText(), wrong) {
		t.Error("the password is in the dead letter or the log")
	}
}
