// Command echo serves a chat stream with labstack/echo: the chat.Handler and
// ssechat's middleware are plain net/http, mounted with echo.WrapHandler.
//
//	go run ./examples/frameworks/echo
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/middleware"
)

func newHandler(p chat.Provider, keepAlive time.Duration) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.Use(echomw.Recover())
	e.POST("/chat", echo.WrapHandler(middleware.KeepAlive(keepAlive)(chat.NewHandler(p))))
	return e
}

func main() {
	demo := &chattest.Provider{Tokens: []string{"Hello", " from", " echo"}, Delay: 200 * time.Millisecond}
	log.Println("POST http://127.0.0.1:8084/chat")
	log.Fatal(http.ListenAndServe("127.0.0.1:8084", newHandler(demo, 15*time.Second)))
}
