package main

import (
	"net"
	"net/http"
	"strings"

	"github.com/ssechat/ssechat/chat"
)

// loopbackOnly answers 403 to requests whose Host is not a loopback name:
// on a loopback listener it defeats DNS rebinding, where a web page on a
// name of the attacker's that resolves to 127.0.0.1 would drive the server
// (and spend its upstream key) from the user's browser.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			_ = chat.WriteError(w, chat.NewError(chat.CodePermissionDenied, "this server answers only localhost, 127.0.0.1 and [::1]"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether host (with or without a port) is localhost,
// a name under .localhost, or a loopback IP address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopback reports whether a listener's address is a loopback one.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
