package testutil

import (
	"net"
	"runtime"
	"sync"
	"testing"
)

// Route is a route source a test switches by hand, for a connection's
// route watcher (quicx.Conn.WatchRouteWith, session.ClientConfig's
// RouteSource): its Source says every destination is reached from the
// address last Set. It is safe for concurrent use.
type Route struct {
	// mu guards the following fields.
	mu sync.Mutex
	ip net.IP
}

// NewRoute returns a Route from ip.
func NewRoute(ip net.IP) *Route { return &Route{ip: ip} }

// Set makes ip the address every destination is routed from.
func (r *Route) Set(ip net.IP) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ip = ip
}

// Source returns the address last Set, whatever the destination.
func (r *Route) Source(net.Addr) (net.IP, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ip, nil
}

// RouteChange is a change of the local address that routes to a server,
// from 127.0.0.1, for route-watcher tests.
type RouteChange struct {
	Name string
	To   net.IP
	// Unusable: the host does not have To, so a connection cannot move
	// to it.
	Unusable bool
}

// RouteChanges returns the changes a route-watcher test tries: to
// 127.0.0.2, which the loopback interface answers on Linux, and to
// 192.0.2.1 (TEST-NET-1), which no host has. It skips the test on other
// systems, where 127.0.0.2 may not be there.
func RouteChanges(t testing.TB) []RouteChange {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2 as a loopback address")
	}
	return []RouteChange{
		{Name: "new address", To: net.IPv4(127, 0, 0, 2)},
		{Name: "address not on this machine", To: net.IPv4(192, 0, 2, 1), Unusable: true},
	}
}
