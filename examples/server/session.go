package main

import (
	"crypto/rand"
	"net/http"
)

// sessionCookie names the demo session that makes a browser's streams its
// own. It stands for your service's real authentication: a stream's Owner
// must come from who is asking, so that someone who learns a stream id
// (ids show up in logs, traces and "chatcmpl-" ids) can neither read nor
// stop another user's stream.
const sessionCookie = "ssechat_session"

// owner returns the demo session of r: its cookie, or "" (anonymous: the
// streams of all clients without a session are one owner's, as for the
// mini program, which keeps no cookies).
func owner(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || !validSession(c.Value) {
		return ""
	}
	return c.Value
}

func validSession(v string) bool {
	if len(v) != 26 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// withSession gives a browser that has no demo session one, with the page.
func withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if owner(r) == "" {
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: rand.Text(), Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		next.ServeHTTP(w, r)
	})
}
