// Command chi serves a chat stream with go-chi/chi, with chi's own
// middleware (including Compress, which leaves text/event-stream alone by
// default) around ssechat's.
//
//	go run ./examples/frameworks/chi
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/middleware"
)

func newHandler(p chat.Provider, keepAlive time.Duration) http.Handler {
	r := chi.NewRouter()
	r.Use(chimw.RequestID, chimw.RealIP, chimw.Compress(5))
	// ssechat's KeepAlive is not chi's Heartbeat (a /ping endpoint).
	r.With(middleware.Recover(nil), middleware.KeepAlive(keepAlive)).Post("/chat", chat.NewHandler(p).ServeHTTP)
	return r
}

func main() {
	demo := &chattest.Provider{Tokens: []string{"Hello", " from", " chi"}, Delay: 200 * time.Millisecond}
	log.Println("POST http://127.0.0.1:8082/chat")
	log.Fatal(http.ListenAndServe("127.0.0.1:8082", newHandler(demo, 15*time.Second)))
}
