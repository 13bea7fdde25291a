// Command gin serves a chat stream with gin-gonic/gin: the chat.Handler and
// ssechat's middleware are plain net/http, mounted with gin.WrapH.
//
//	go run ./examples/frameworks/gin
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/middleware"
)

func newHandler(p chat.Provider, keepAlive time.Duration) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.POST("/chat", gin.WrapH(middleware.KeepAlive(keepAlive)(chat.NewHandler(p))))
	return r
}

func main() {
	demo := &chattest.Provider{Tokens: []string{"Hello", " from", " gin"}, Delay: 200 * time.Millisecond}
	log.Println("POST http://127.0.0.1:8083/chat")
	log.Fatal(http.ListenAndServe("127.0.0.1:8083", newHandler(demo, 15*time.Second)))
}
