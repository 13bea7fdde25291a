module github.com/ssechat/ssechat

go 1.26.0

require (
	github.com/tmaxmax/go-sse v0.12.0
	go.uber.org/goleak v1.3.0
)

require github.com/sashabaranov/go-openai v1.43.0 // indirect
