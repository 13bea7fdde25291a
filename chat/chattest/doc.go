// Package chattest helps test code that serves chat streams: [Provider] is a
// scripted chat.Provider (tokens, delays, an error at a position, blocking
// until cancelled), and [Post] and [Read] turn a response into parsed events
// and the text a client would show, in every wire mode.
//
//	p := &chattest.Provider{Tokens: []string{"Hel", "lo"}}
//	srv := httptest.NewServer(chat.NewHandler(p))
//	defer srv.Close()
//	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
//	// s.Text == "Hello", s.Done.FinishReason == "stop", s.Terminals == 1
package chattest
