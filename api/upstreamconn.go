package api

import (
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// upstreamConn is a connection to an upstream. It does two things:
//
// It fails a read or write that makes no progress for timeout: the
// upstream timeout of the proxy, which bounds waiting for an answer
// without cutting off a long download that keeps flowing. Moving a
// deadline costs a runtime timer update, so it is moved only when less
// than half the timeout is left: a stalled connection fails after between
// timeout/2 and timeout.
//
// And it knows whether the request in progress is on a connection that
// served an earlier one, and whether any byte of the answer came: what
// the proxy needs to tell a kept-alive connection the upstream closed
// while it sat idle (safe to retry) from an upstream that failed.
//
// fasthttp never reads (or writes) one connection from two goroutines at
// once, and a request's bytes are all written before its answer is read,
// so the fields need no lock: they are read by the caller of Do after Do
// returned, when the connection is no longer in use.
type upstreamConn struct {
	net.Conn
	timeout  time.Duration
	rdl, wdl time.Time // deadlines last set

	read      int64 // bytes read over the connection's life
	readAtReq int64 // read when the request in progress began
	written   int64 // bytes of the request in progress written
	reading   bool  // the last operation was a read: the next write starts a request
	addr      connAddr
}

func newUpstreamConn(c net.Conn, timeout time.Duration) *upstreamConn {
	uc := &upstreamConn{Conn: c, timeout: timeout, reading: true}
	uc.addr = connAddr{Addr: c.LocalAddr(), conn: uc}
	return uc
}

// connAddr is the local address of an upstreamConn. fasthttp hands it back
// through Response.LocalAddr even after a failed request, which is how the
// proxy finds the connection a request went over.
type connAddr struct {
	net.Addr
	conn *upstreamConn
}

// Handshake tells fasthttp the connection needs no TLS of its own: it is
// plain by the upstream's scheme, or its TLS is done (see proxy.client).
func (c *upstreamConn) Handshake() error { return nil }

// LocalAddr returns the connection's connAddr.
func (c *upstreamConn) LocalAddr() net.Addr { return c.addr }

// connOf returns the connection resp was read from, or nil.
func connOf(resp *fasthttp.Response) *upstreamConn {
	if a, ok := resp.LocalAddr().(connAddr); ok {
		return a.conn
	}
	return nil
}

// staleReuse reports whether the last request went over a connection that
// had carried an earlier answer and got no byte of its own.
func (c *upstreamConn) staleReuse() bool { return c.readAtReq > 0 && c.read == c.readAtReq }

// nothingWritten reports whether no byte of the last request left.
func (c *upstreamConn) nothingWritten() bool { return c.written == 0 }

func (c *upstreamConn) Read(b []byte) (int, error) {
	if now := time.Now(); c.rdl.Sub(now) < c.timeout/2 {
		c.rdl = now.Add(c.timeout)
		c.Conn.SetReadDeadline(c.rdl)
	}
	c.reading = true
	n, err := c.Conn.Read(b)
	c.read += int64(n)
	return n, err
}

func (c *upstreamConn) Write(b []byte) (int, error) {
	if c.reading { // a new request begins
		c.reading, c.readAtReq, c.written = false, c.read, 0
	}
	if now := time.Now(); c.wdl.Sub(now) < c.timeout/2 {
		c.wdl = now.Add(c.timeout)
		c.Conn.SetWriteDeadline(c.wdl)
	}
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	return n, err
}
