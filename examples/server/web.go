package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// web is the browser chat page served at /: plain HTML, CSS and JavaScript,
// no build step.
//
//go:embed web
var web embed.FS

func webHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	return http.FileServerFS(sub)
}
