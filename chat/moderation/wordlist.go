// Package moderation has moderators for chat.WithModeration: a word list,
// matched with Aho-Corasick over the text held back, whatever chunks the
// model split a word into.
package moderation

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/cloudflare/ahocorasick"

	"github.com/ssechat/ssechat/chat"
)

// WordList blocks text that contains any of its words (case-insensitive).
// It is a chat.Overlapper: the handler holds back the last runes of each
// check, so that a word split across any chunks, or across two checks, is
// caught whole before any part of it is shown.
type WordList struct {
	m        *ahocorasick.Matcher
	words    []string
	longest  int             // runes
	prefixes map[string]bool // the words' proper prefixes
}

var (
	_ chat.Moderator  = (*WordList)(nil)
	_ chat.Overlapper = (*WordList)(nil)
)

// NewWordList returns a WordList of words; empty words are ignored. It
// panics if none is left.
func NewWordList(words ...string) *WordList {
	w := &WordList{}
	for _, word := range words {
		word = strings.ToLower(strings.TrimSpace(word))
		if word == "" {
			continue
		}
		w.words = append(w.words, word)
		w.longest = max(w.longest, utf8.RuneCountInString(word))
	}
	if len(w.words) == 0 {
		panic("moderation: NewWordList: no words")
	}
	w.m = ahocorasick.NewStringMatcher(w.words)
	w.prefixes = make(map[string]bool)
	for _, word := range w.words {
		r := []rune(word)
		for i := 1; i < len(r); i++ {
			w.prefixes[string(r[:i])] = true
		}
	}
	return w
}

// ReadWordList reads a word per line (blank lines and lines starting with
// # are skipped).
func ReadWordList(r io.Reader) (*WordList, error) {
	var words []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words = append(words, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("moderation: the word list is empty")
	}
	return NewWordList(words...), nil
}

// HoldBack implements chat.Overlapper: the longest end of text that
// begins a word.
func (w *WordList) HoldBack(text string) int {
	text = strings.ToLower(text)
	r := []rune(text)
	for n := min(w.longest-1, len(r)); n > 0; n-- {
		if w.prefixes[string(r[len(r)-n:])] {
			return n
		}
	}
	return 0
}

// Check implements chat.Moderator: it blocks a candidate containing a word.
func (w *WordList) Check(_ context.Context, c *chat.ModerationCheck) (chat.ModerationVerdict, error) {
	if hits := w.m.MatchThreadSafe([]byte(strings.ToLower(c.Candidate))); len(hits) > 0 {
		return chat.ModerationVerdict{Block: true, Reason: fmt.Sprintf("the word list matched %d word(s)", len(hits))}, nil
	}
	return chat.ModerationVerdict{}, nil
}
