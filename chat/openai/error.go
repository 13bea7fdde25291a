package openai

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
)

// classify turns a go-openai error into a *chat.Error whose code and
// generic message are safe to send; the original, which may quote the
// upstream's error body and the API key, is kept only as the cause. Once ctx
// is done the context's own error is returned (the chat handler maps it to a
// code, in one place), not go-openai's, whose text names the URL.
func classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode != 0:
		return &chat.Error{Code: byStatus(apiErr.HTTPStatusCode), Err: err}
	case errors.As(err, &apiErr):
		// An error payload inside a 200 stream.
		code := chat.CodeUpstreamUnavailable
		if strings.Contains(apiErr.Type, "rate_limit") || apiErr.Code == "rate_limit_exceeded" {
			code = chat.CodeRateLimited
		}
		return &chat.Error{Code: code, Err: err}
	case errors.As(err, &reqErr) && reqErr.HTTPStatusCode != 0:
		return &chat.Error{Code: byStatus(reqErr.HTTPStatusCode), Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &chat.Error{Code: chat.CodeTruncated, Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &chat.Error{Code: chat.CodeTimeout, Err: err}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &chat.Error{Code: chat.CodeTimeout, Err: err}
	case errors.As(err, &netErr):
		return &chat.Error{Code: chat.CodeUpstreamUnavailable, Err: err}
	default:
		return &chat.Error{Code: chat.CodeUpstreamError, Err: err}
	}
}

// byStatus maps an upstream HTTP status. An upstream 401 or 403 is our
// configuration's fault, not the client's: 502, not 401.
func byStatus(status int) chat.Code {
	switch {
	case status == http.StatusTooManyRequests:
		return chat.CodeRateLimited
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return chat.CodeTimeout
	case status >= 500:
		return chat.CodeUpstreamUnavailable
	default:
		return chat.CodeUpstreamError
	}
}
