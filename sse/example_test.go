package sse_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/ssechat/ssechat/sse"
)

func ExampleNewWriter() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, err := sse.NewWriter(w, nil)
		if err != nil { // nothing was written: answer plainly
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for i, word := range []string{"stream", "any\nlines"} {
			err := sw.Send(sse.Event{ID: fmt.Sprint(i), Name: "word", Data: []byte(word)})
			if err != nil {
				return // the client is gone
			}
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Print(string(body))
	// Output:
	// text/event-stream; charset=utf-8
	// id: 0
	// event: word
	// data: stream
	//
	// id: 1
	// event: word
	// data: any
	// data: lines
}
