package outbound_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/outbound"
	"github.com/grantd/grantd/outbound/outboundtest"
)

var ctx = context.Background()

func TestForbidden(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true}, {"10.0.0.1", true}, {"172.16.5.4", true},
		{"192.168.1.1", true}, {"169.254.169.254", true}, {"fe80::1", true}, {"fc00::1", true}, {"fd00:ec2::254", true},
		{"0.0.0.0", true}, {"::", true}, {"100.64.1.1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"224.0.0.1", true}, {"64:ff9b::7f00:1", true},
		// IPv6 transition forms that lead to internal IPv4 addresses.
		{"::127.0.0.1", true}, {"::10.0.0.1", true}, {"::169.254.169.254", true}, // IPv4-compatible
		{"2002:7f00:1::", true}, {"2002:a9fe:a9fe::1", true}, {"2002:c0a8:101::", true}, // 6to4
		{"2001:0:7f00:1::", true},                              // Teredo, server 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", true},         // Teredo, client inverted: 127.0.0.1
		{"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::a00:1", true}, // NAT64 to metadata, private
		{"64:ff9b:1::1", true}, {"64:ff9b:1:7f00:1::", true}, // local-use NAT64
		{"fec0::1", true}, {"feff::1", true}, // site-local
		// …and the same forms leading to public addresses pass.
		{"2002:808:808::1", false}, {"64:ff9b::808:808", false}, {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", false},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"2606:4700:4700::1111", false}, {"52.94.236.248", false},
	} {
		if got := outbound.Forbidden(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Forbidden(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestDialerChecksWhatItDials: a host name that resolves to a loopback or
// metadata address (DNS rebinding) is refused unless private networks are
// allowed; the check is on the resolved address actually dialled.
func TestDialerChecksWhatItDials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	lookup := outboundtest.Resolver(outboundtest.Rebinding)
	strict := &outbound.Dialer{LookupIP: lookup, Timeout: time.Second}
	for _, host := range []string{"rebind.test", "metadata.test", "compat.test", "6to4.test", "127.0.0.1", "[::1]", "localhost"} {
		_, err := strict.DialContext(ctx, "tcp", net.JoinHostPort(strings.Trim(host, "[]"), port))
		if host == "localhost" {
			// The system resolver answers for localhost.
			strict.LookupIP = nil
			_, err = strict.DialContext(ctx, "tcp", "localhost:"+port)
			strict.LookupIP = lookup
		}
		if !errors.Is(err, outbound.ErrForbiddenAddress) {
			t.Errorf("dial %s: %v, want ErrForbiddenAddress", host, err)
		}
	}
	open := &outbound.Dialer{LookupIP: lookup, AllowPrivate: true, Timeout: time.Second}
	c, err := open.DialContext(ctx, "tcp", "rebind.test:"+port)
	if err != nil {
		t.Fatalf("private networks allowed: %v", err)
	}
	c.Close()
}
