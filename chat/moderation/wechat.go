package moderation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ssechat/ssechat/chat"
)

// WeChatOptions configures [NewWeChat].
type WeChatOptions struct {
	// AppID and Secret are the mini program's, for the access token.
	AppID, Secret string
	// BaseURL is the API's. Default https://api.weixin.qq.com.
	BaseURL string
	// HTTPClient makes the calls. Default one with a 10 s timeout.
	HTTPClient *http.Client
	// Scene is msgSecCheck's scene: 1 profile, 2 comment, 3 forum, 4
	// social log. Default 2.
	Scene int
	// BlockReview blocks text whose suggestion is "review" too; by default
	// only "risky" blocks.
	BlockReview bool
	// OpenID returns the user's openid for a request, which msgSecCheck
	// requires (the user must have used the mini program in the last two
	// hours). Default: the request's Owner, as the prepare hook set it.
	OpenID func(*chat.Request) string
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// WeChat is a chat.Moderator that asks WeChat's content security API
// (msgSecCheck, version 2) about every piece of text, in windows of at
// most 2,000 characters (with the end of the text already shown as
// context). Its access token comes from stable_token and is renewed before
// it expires and whenever the API says it is invalid (errcode 40001). A
// rate limit (errcode 45009) or any other API error is an error, which
// the handler's policy (fail closed by default) decides about.
type WeChat struct {
	o WeChatOptions

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ chat.Moderator = (*WeChat)(nil)

// NewWeChat returns a WeChat moderator. It panics without AppID or Secret.
func NewWeChat(o WeChatOptions) *WeChat {
	if o.AppID == "" || o.Secret == "" {
		panic("moderation: NewWeChat: AppID and Secret are required")
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://api.weixin.qq.com"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Scene == 0 {
		o.Scene = 2
	}
	if o.OpenID == nil {
		o.OpenID = func(r *chat.Request) string { return r.Owner }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &WeChat{o: o}
}

// WeChat's error codes that the moderator acts on.
const (
	errInvalidToken = 40001
	errRateLimited  = 45009
)

// WeChatError is an error answer of the API. Its Message is WeChat's,
// kept on the server (Result.Err), never sent to clients.
type WeChatError struct {
	Code    int
	Message string
}

func (e *WeChatError) Error() string {
	return fmt.Sprintf("moderation: WeChat error %d: %s", e.Code, e.Message)
}

// RateLimited reports whether WeChat refused the call for its rate limit.
func (e *WeChatError) RateLimited() bool { return e.Code == errRateLimited }

// Window sizes, in characters (runes).
const (
	wechatWindow  = 2000
	wechatContext = 200 // of the text already shown, for context
)

// Check implements chat.Moderator.
func (w *WeChat) Check(ctx context.Context, c *chat.ModerationCheck) (chat.ModerationVerdict, error) {
	openid := w.o.OpenID(c.Request)
	if openid == "" {
		return chat.ModerationVerdict{}, errors.New("moderation: WeChat: no openid for the request (set Owner, or WeChatOptions.OpenID)")
	}
	released := []rune(c.Released)
	text := append(released[max(0, len(released)-wechatContext):], []rune(c.Candidate)...)
	// Windows of at most 2,000 characters, overlapping so that no phrase
	// is cut between two.
	for start := 0; start < len(text); start += wechatWindow - wechatContext {
		win := string(text[start:min(len(text), start+wechatWindow)])
		suggest, label, err := w.check(ctx, win, openid)
		if err != nil {
			return chat.ModerationVerdict{}, err
		}
		if suggest == "risky" || suggest == "review" && w.o.BlockReview {
			return chat.ModerationVerdict{Block: true, Reason: fmt.Sprintf("msgSecCheck: %s (label %d)", suggest, label)}, nil
		}
		if start+wechatWindow >= len(text) {
			break
		}
	}
	return chat.ModerationVerdict{}, nil
}

// check asks about one window, renewing the token once if it is invalid.
func (w *WeChat) check(ctx context.Context, content, openid string) (string, int, error) {
	for attempt := 0; ; attempt++ {
		token, err := w.accessToken(ctx, attempt > 0)
		if err != nil {
			return "", 0, err
		}
		var out struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
			Result  struct {
				Suggest string `json:"suggest"`
				Label   int    `json:"label"`
			} `json:"result"`
		}
		body := map[string]any{"content": content, "version": 2, "scene": w.o.Scene, "openid": openid}
		if err := w.post(ctx, "/wxa/msg_sec_check?access_token="+url.QueryEscape(token), body, &out); err != nil {
			return "", 0, err
		}
		switch {
		case out.ErrCode == errInvalidToken && attempt == 0:
			w.invalidate(token)
			continue // a fresh token, once
		case out.ErrCode != 0:
			return "", 0, &WeChatError{Code: out.ErrCode, Message: out.ErrMsg}
		case out.Result.Suggest == "":
			return "", 0, errors.New("moderation: WeChat: an answer without a suggestion")
		}
		return out.Result.Suggest, out.Result.Label, nil
	}
}

// accessToken returns a valid token: the cached one, or a new one from
// stable_token (force: even if the cached one has not expired).
func (w *WeChat) accessToken(ctx context.Context, force bool) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !force && w.token != "" && w.o.Now().Before(w.expires) {
		return w.token, nil
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		ErrCode     int    `json:"errcode"`
		ErrMsg      string `json:"errmsg"`
	}
	body := map[string]any{"grant_type": "client_credential", "appid": w.o.AppID, "secret": w.o.Secret, "force_refresh": force}
	if err := w.post(ctx, "/cgi-bin/stable_token", body, &out); err != nil {
		return "", err
	}
	if out.ErrCode != 0 || out.AccessToken == "" {
		return "", &WeChatError{Code: out.ErrCode, Message: out.ErrMsg}
	}
	// Renewed a minute early (at most half its life), so that a token is
	// not used in its last moments.
	life := time.Duration(out.ExpiresIn) * time.Second
	w.token, w.expires = out.AccessToken, w.o.Now().Add(life-min(time.Minute, life/2))
	return w.token, nil
}

func (w *WeChat) invalidate(token string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.token == token {
		w.token = ""
	}
}

func (w *WeChat) post(ctx context.Context, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.o.HTTPClient.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without the URL, which holds the access token
		}
		return fmt.Errorf("moderation: WeChat: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moderation: WeChat: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("moderation: WeChat: %w", err)
	}
	return nil
}
