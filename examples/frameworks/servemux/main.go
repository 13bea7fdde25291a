// Command servemux serves a chat stream with net/http's ServeMux, behind
// ssechat's keep-alive and recovery middleware.
//
//	go run ./examples/frameworks/servemux
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/middleware"
)

func newHandler(p chat.Provider, keepAlive time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/chat", middleware.Recover(nil)(middleware.KeepAlive(keepAlive)(chat.NewHandler(p))))
	return mux
}

func main() {
	demo := &chattest.Provider{Tokens: []string{"Hello", " from", " ServeMux"}, Delay: 200 * time.Millisecond}
	log.Println("POST http://127.0.0.1:8081/chat")
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", newHandler(demo, 15*time.Second)))
}
