package middleware

import (
	"sync"
	"time"
)

// A watch is one stream's entry in a scheduler.
type watch interface {
	// tick runs on the scheduler's goroutine once per period. It must not
	// block: work that may (a write to the client) is started elsewhere.
	tick()
}

// scheduler ticks every registered watch once per period on one goroutine,
// so that idle streams cost an entry in a set rather than a goroutine and a
// timer each. The goroutine runs only while the set is not empty.
type scheduler struct {
	period time.Duration

	mu      sync.Mutex
	watches map[watch]struct{}
	stop    chan struct{} // closed to end the running goroutine; nil when none runs
}

func (s *scheduler) add(w watch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches == nil {
		s.watches = make(map[watch]struct{})
	}
	s.watches[w] = struct{}{}
	if s.stop == nil {
		s.stop = make(chan struct{})
		go s.run(s.stop)
	}
}

func (s *scheduler) remove(w watch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watches, w)
	if len(s.watches) == 0 && s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
}

func (s *scheduler) run(stop chan struct{}) {
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for w := range s.watches {
			w.tick()
		}
		s.mu.Unlock()
	}
}

// ticksPer is how many scheduler periods make up an interval: a watch acts
// after between ticksPer and ticksPer+1 periods of idleness, that is between
// the interval and a quarter more.
const ticksPer = 4

// idleCounter counts the scheduler periods in which a counter did not move.
// Only the scheduler's goroutine uses it. Make it with newIdleCounter.
type idleCounter struct {
	seen  int64
	ticks int
}

// newIdleCounter starts at -1: the first tick after registering may come at
// once, and must not count as a whole period.
func newIdleCounter() idleCounter { return idleCounter{ticks: -1} }

// idle notes the counter's value and reports whether it has stayed the same
// for a whole interval, then starts counting again.
func (c *idleCounter) idle(n int64) bool {
	if n != c.seen {
		c.seen, c.ticks = n, 0
		return false
	}
	c.ticks++
	if c.ticks < ticksPer {
		return false
	}
	c.ticks = 0
	return true
}
