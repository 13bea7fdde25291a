package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Moderator checks generated text before any client sees it (see
// [WithModeration]). It must be safe for concurrent use.
type Moderator interface {
	// Check says whether c.Candidate, the next text of the answer (or of
	// its reasoning), may be shown after c.Released, the text of the same
	// kind already shown. An error is handled by the policy's FailOpen.
	Check(ctx context.Context, c *ModerationCheck) (ModerationVerdict, error)
}

// ModerationCheck is one check's input.
type ModerationCheck struct {
	// Request is the stream's request (Owner, messages, ...).
	Request *Request
	// Reasoning is set when the text is the model's reasoning.
	Reasoning bool
	// Released is the text of this kind that clients have, and Candidate
	// the text to release after it.
	Released, Candidate string
}

// ModerationVerdict is a check's outcome.
type ModerationVerdict struct {
	// Block withholds the candidate and ends the answer with
	// [CodeContentFiltered].
	Block bool
	// Reason is for the server's logs (Result.Err), never sent.
	Reason string
}

// ModeratorFunc adapts a function to [Moderator].
type ModeratorFunc func(ctx context.Context, c *ModerationCheck) (ModerationVerdict, error)

// Check calls f.
func (f ModeratorFunc) Check(ctx context.Context, c *ModerationCheck) (ModerationVerdict, error) {
	return f(ctx, c)
}

// Overlapper is a [Moderator] whose matches may begin at the end of a
// checked text and end in the next one (a word list's words). So that a
// match is never split between two releases, HoldBack(text) says how many
// runes at the end of text could begin one: those are held back until the
// next check, or the end.
type Overlapper interface {
	HoldBack(text string) int
}

// ModerationOptions configures [WithModeration].
type ModerationOptions struct {
	Moderator Moderator
	// Text is held back and released in pieces, each once the moderator
	// passed it: at the end of a sentence (。！？.!? or a line end), at
	// MaxRunes held, or MaxDelay after the first held rune, whichever
	// comes first; and before any other part (a tool call, data). Checks
	// run alongside generation: while one runs, the text that follows is
	// held. Defaults: 200 runes, 800 ms.
	MaxRunes int
	MaxDelay time.Duration
	// Timeout bounds one check. Default 10 s.
	Timeout time.Duration
	// FailOpen releases text whose check failed (an error or a timeout);
	// by default (fail closed) the answer ends as if blocked.
	FailOpen bool
	// Retract, if set, is shown instead of the text already released when
	// a later piece is blocked: a "retract" event in delta mode, a last
	// snapshot in snapshot mode, a data-retract part in ui mode (OpenAI's
	// format has no way to take text back). Default: what was released
	// stays.
	Retract string
}

// WithModeration checks every piece of text and reasoning with a
// [Moderator] before it enters the stream's log, so that no client, no
// resume, no telemetry content and no finish hook's Result can see what it
// blocked. A block ends the answer with an error event of code
// [CodeContentFiltered] (in every mode), the finish hook's Result having
// finish reason "content_filter", [EndContentFiltered], and only the text
// released. It panics if o.Moderator is nil or an option is negative.
func WithModeration(o ModerationOptions) Option {
	if o.Moderator == nil || o.MaxRunes < 0 || o.MaxDelay < 0 || o.Timeout < 0 {
		panic(fmt.Sprintf("chat: WithModeration(%+v): nil Moderator or a negative option", o))
	}
	if o.MaxRunes == 0 {
		o.MaxRunes = 200
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 800 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	return optionFunc(func(h *Handler) { h.moderation = &o })
}

// filteredMessage is what clients see of a blocked answer.
const filteredMessage = "the rest of this answer was withheld by content moderation"

var errContentFiltered = errors.New("chat: the answer was blocked by moderation")

// modStage sits between the producer and the log: records go in as the
// provider yields them, and come out, renumbered, once released.
type modStage struct {
	p    *producer
	o    *ModerationOptions
	in   chan modItem
	done chan modResult
}

type modItem struct {
	recs []Record
	end  bool // recs end with the terminal record(s)
}

// modResult is what the stage tells the producer at the end.
type modResult struct {
	blocked   bool
	reason    string
	err       error // a store error
	text      string
	reasoning string
}

func newModStage(p *producer, o *ModerationOptions) *modStage {
	m := &modStage{p: p, o: o, in: make(chan modItem, 256), done: make(chan modResult, 1)}
	go m.run()
	return m
}

// modCheck is a check in flight.
type modCheck struct {
	recs    []Record // the records it releases when it passes
	tail    []Record // text held back (the overlap) after them
	verdict chan modVerdict
}

type modVerdict struct {
	block  bool
	reason string
}

func (m *modStage) run() {
	var (
		held      []Record // not yet checked, in order
		inflight  *modCheck
		ended     []Record // the terminal records, once the producer ended
		end       bool
		seq       int64
		released  = map[RecordKind]*strings.Builder{RecordText: {}, RecordReasoning: {}}
		result    modResult
		timer     = time.NewTimer(time.Hour)
		timerOn   bool
		heldSince time.Time
	)
	timer.Stop()
	defer timer.Stop()
	// Checks outlive the provider's context, which ends with the
	// generation: the text held at its end is still checked.
	checkCtx, cancelChecks := context.WithCancel(m.p.hookCtx)
	defer cancelChecks()
	ov, _ := m.o.Moderator.(Overlapper)
	appendRecs := func(recs []Record) {
		if len(recs) == 0 || result.err != nil {
			return
		}
		for i := range recs {
			if recs[i].Transient { // its value moves with its number
				if v, ok := m.p.transientValue(recs[i].Seq); ok {
					m.p.keepTransient(seq, v)
				}
			}
			recs[i].Seq = seq
			seq++
			if b := released[recs[i].Kind]; b != nil {
				b.WriteString(recs[i].Text)
			}
		}
		ctx, cancel := context.WithTimeout(m.p.hookCtx, storeTimeout)
		defer cancel()
		if err := m.p.append(ctx, recs); err != nil {
			result.err = err
			m.p.cancel(err)
			return
		}
		m.p.count(recs)
	}
	// cut returns where a check of held may end: after a sentence end, at
	// MaxRunes, before a non-text record; and whether that is a boundary
	// (false: keep holding).
	cut := func(force bool) (int, bool) {
		runes := 0
		for i, r := range held {
			if !isModerated(r.Kind) {
				return i, true // before it (or it, first: it needs no check)
			}
			runes += utf8.RuneCountInString(r.Text)
			if !end && (runes >= m.o.MaxRunes || strings.ContainsAny(r.Text, "。！？.!?\n")) {
				return i + 1, true // at the end, the rest is checked at once
			}
		}
		return len(held), force && len(held) > 0
	}
	// start checks held[:n]; it reports false, holding on, when all of it
	// is overlap to hold back anyway.
	start := func(n int) bool {
		recs := append([]Record(nil), held[:n]...)
		rest := held[n:]
		c := &modCheck{verdict: make(chan modVerdict, 1)}
		// Hold back the overlap: the last runes of text of each kind,
		// unless the stream has ended or a non-text part follows.
		if ov != nil && !(end && len(rest) == 0) && (len(rest) == 0 || isModerated(rest[0].Kind)) {
			if n := holdBack(ov, recs); n > 0 {
				recs, c.tail = splitTail(recs, n)
				if len(recs) == 0 {
					return false // nothing to release yet: wait for more
				}
			}
		}
		held = rest
		c.recs = recs
		cands := map[RecordKind]*strings.Builder{}
		for _, r := range append(append([]Record(nil), recs...), c.tail...) {
			if isModerated(r.Kind) {
				if cands[r.Kind] == nil {
					cands[r.Kind] = &strings.Builder{}
				}
				cands[r.Kind].WriteString(r.Text)
			}
		}
		rel := map[RecordKind]string{RecordText: released[RecordText].String(), RecordReasoning: released[RecordReasoning].String()}
		inflight = c
		go func() {
			v := modVerdict{}
			for _, kind := range []RecordKind{RecordReasoning, RecordText} {
				b := cands[kind]
				if b == nil || b.Len() == 0 {
					continue
				}
				ctx, cancel := context.WithTimeout(checkCtx, m.o.Timeout)
				verdict, err := m.o.Moderator.Check(ctx, &ModerationCheck{Request: m.p.req, Reasoning: kind == RecordReasoning, Released: rel[kind], Candidate: b.String()})
				cancel()
				switch {
				case err != nil && !m.o.FailOpen:
					v = modVerdict{block: true, reason: "the moderator failed: " + err.Error()}
				case err == nil && verdict.Block:
					v = modVerdict{block: true, reason: verdict.Reason}
				}
				if v.block {
					break
				}
			}
			c.verdict <- v
		}()
		return true
	}
	for {
		// Start a check when one can run and the held text is ready.
		if inflight == nil && !result.blocked && len(held) > 0 {
			if n, ok := cut(end); ok {
				if n == 0 { // a non-text record first: it needs no check
					appendRecs(held[:1])
					held = held[1:]
					continue
				}
				if !start(n) && !timerOn {
					timer.Reset(m.o.MaxDelay)
					timerOn = true
				}
			} else if !timerOn {
				timer.Reset(max(0, m.o.MaxDelay-time.Since(heldSince)))
				timerOn = true
			}
		}
		if end && inflight == nil && (len(held) == 0 || result.blocked) {
			break
		}
		var in chan modItem
		if !end {
			in = m.in
		}
		var verdict chan modVerdict
		if inflight != nil {
			verdict = inflight.verdict
		}
		select {
		case it := <-in:
			for _, r := range it.recs {
				if it.end && r.terminal() {
					ended = append(ended, r)
					continue
				}
				if len(held) == 0 || !isModerated(held[len(held)-1].Kind) && isModerated(r.Kind) {
					heldSince = time.Now()
				}
				held = append(held, r)
			}
			end = end || it.end
		case v := <-verdict:
			c := inflight
			inflight = nil
			if v.block {
				result.blocked, result.reason = true, v.reason
				m.p.cancel(errContentFiltered) // stop the paid upstream at once
				held = nil
				continue
			}
			appendRecs(c.recs)
			held = append(c.tail, held...)
		case <-timer.C:
			timerOn = false
			if inflight == nil && len(held) > 0 && !result.blocked {
				if n, _ := cut(true); n > 0 {
					_ = start(n)
				}
			}
			heldSince = time.Now()
		}
	}
	// The end: the terminal as the producer made it, or the block's.
	if result.blocked {
		ended = []Record{{Kind: RecordError, Code: CodeContentFiltered, Message: filteredMessage}}
		if m.o.Retract != "" && released[RecordText].Len() > 0 {
			ended = append([]Record{{Kind: RecordRetract, Text: m.o.Retract}}, ended...)
		}
	}
	appendRecs(ended)
	result.text, result.reasoning = released[RecordText].String(), released[RecordReasoning].String()
	m.done <- result
}

func isModerated(k RecordKind) bool { return k == RecordText || k == RecordReasoning }

// holdBack is how many runes at the end of recs' text to hold back: what
// the moderator says of the text of the last moderated kind.
func holdBack(ov Overlapper, recs []Record) int {
	var b strings.Builder
	var kind RecordKind
	for i := len(recs) - 1; i >= 0 && isModerated(recs[i].Kind); i-- {
		if kind == "" {
			kind = recs[i].Kind
		}
		if recs[i].Kind != kind {
			break
		}
		b.WriteString(reverseJoin(recs[i].Text))
	}
	return max(ov.HoldBack(reverseJoin(b.String())), 0)
}

// reverseJoin reverses s rune by rune (holdBack collects pieces from the
// end).
func reverseJoin(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// splitTail splits the last n runes of the text of recs' moderated kinds
// off into tail, splitting a record if need be.
func splitTail(recs []Record, n int) (head, tail []Record) {
	for i := len(recs) - 1; i >= 0 && n > 0; i-- {
		r := recs[i]
		if !isModerated(r.Kind) {
			break
		}
		c := utf8.RuneCountInString(r.Text)
		if c <= n {
			tail = append([]Record{r}, tail...)
			n -= c
			recs = recs[:i]
			continue
		}
		// Split the record: its first c-n runes go now.
		cutAt := len(r.Text)
		for k := 0; k < n; k++ {
			_, size := utf8.DecodeLastRuneInString(r.Text[:cutAt])
			cutAt -= size
		}
		first, rest := r, r
		first.Text, rest.Text = r.Text[:cutAt], r.Text[cutAt:]
		recs = append(recs[:i:i], first)
		tail = append([]Record{rest}, tail...)
		n = 0
	}
	return recs, tail
}

// submit passes recs to the stage.
func (m *modStage) submit(recs []Record, end bool) {
	m.in <- modItem{recs: append([]Record(nil), recs...), end: end}
}
