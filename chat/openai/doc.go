// Package openai is a chat.Provider for OpenAI's chat completions API and
// every vendor compatible with it (DeepSeek, Qwen's compatible mode, Moonshot,
// Zhipu, Ollama, vLLM, ...), built on github.com/sashabaranov/go-openai.
//
//	cfg := goopenai.DefaultConfig(os.Getenv("OPENAI_API_KEY"))
//	cfg.BaseURL = "https://api.deepseek.com/v1" // any compatible vendor
//	p := openai.New(cfg, openai.WithModel("deepseek-chat"))
//	http.Handle("POST /chat", chat.NewHandler(p))
//
// It asks for usage (stream_options.include_usage), reports a stream that
// ends without "data: [DONE]" as an error with chat.CodeTruncated (go-openai
// alone reports it as a normal end), reports an error payload inside the
// stream as an error, and ignores comment and keep-alive lines however many
// arrive. Cancelling the context closes the upstream request. Upstream
// failures are classified into chat error codes; their text, which can
// quote the API key, is kept as the unsent cause.
package openai
