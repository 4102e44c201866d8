package gitsync

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/net/proxy"
)

// go-git's ssh transport (v5.19) dials and shakes hands without the caller's context: an ssh
// server that accepts and never answers hangs a Sync or a poll forever. It does dial through the
// dialer registered for a ProxyOptions URL's scheme, so each ssh operation names, in such a URL, a
// dialer bound to its context, which closes the connection when the context ends.
const ctxDialScheme = "chaos-gitsync-ctx"

var (
	ctxDialers   sync.Map // id (string) -> context.Context
	ctxDialerSeq atomic.Uint64
)

func init() {
	proxy.RegisterDialerType(ctxDialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		ctx, ok := ctxDialers.Load(u.Host)
		if !ok {
			return nil, net.UnknownNetworkError("gitsync: no context for this ssh connection")
		}
		return ctxDialer{ctx.(context.Context)}, nil
	})
}

// withCtxDialer returns the ProxyOptions that make an ssh operation's connection follow ctx, and
// the function that forgets them once the operation returned; other URLs need none.
func withCtxDialer(ctx context.Context, rawURL string) (transport.ProxyOptions, func()) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil || ep.Protocol != "ssh" {
		return transport.ProxyOptions{}, func() {}
	}
	id := strconv.FormatUint(ctxDialerSeq.Add(1), 10)
	ctxDialers.Store(id, ctx)
	return transport.ProxyOptions{URL: ctxDialScheme + "://" + id}, func() { ctxDialers.Delete(id) }
}

type ctxDialer struct{ ctx context.Context }

func (d ctxDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(d.ctx, network, addr)
}

func (d ctxDialer) DialContext(dctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	// dctx is go-git's own (a background context unless ClientConfig.Timeout is set)
	ctx, cancel := context.WithCancel(d.ctx)
	stopDial := context.AfterFunc(dctx, cancel)
	defer stopDial()
	defer cancel()
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(d.ctx, func() { conn.Close() })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
