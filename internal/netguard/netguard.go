// Package netguard keeps outgoing requests whose destination a third party chooses (a
// webhook's URL, the archive URLs an upstream's index names, a registry's redirects) off
// this machine and its link-local neighbours, such as a cloud's metadata service.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Kind names what makes ip local — a loopback, link-local or unspecified address — or "".
func Kind(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local address (such as a cloud's metadata service)"
	case ip.IsUnspecified():
		return "an unspecified address (this machine)"
	}
	return ""
}

// HostKind is Kind of a host name as written (no port, no brackets): an IP literal's kind,
// "this machine" for localhost, else "". Names are not resolved: RefuseLocal checks the
// address a connection actually reaches.
func HostKind(host string) string {
	if host == "localhost" {
		return "this machine"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return Kind(ip)
	}
	return ""
}

// RefuseLocal returns a net.Dialer Control function that refuses to connect to a local
// address (see Kind), with an error wrapping sentinel. It runs on the address actually
// connected to, after name resolution and through redirects, so a name that resolves to a
// local address is refused too.
func RefuseLocal(sentinel error) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if kind := Kind(ip); kind != "" {
			return fmt.Errorf("refused to connect to %s, %s: %w", ip, kind, sentinel)
		}
		return nil
	}
}
