// Command load starts many concurrent chat streams against an ssechat
// server and reports how long they took, for capacity checks on a machine
// of your own:
//
//	go run ./examples/server -mock-delay 30ms &                   # or with -redis
//	go run ./examples/load -url http://127.0.0.1:8080/chat -streams 1000
//
// Each stream posts one user message (with the example server's mock, the
// answer echoes it: -runes 300 at its default -mock-delay of 30 ms per 3
// runes is a 3 s answer) and reads to the terminal event. It prints the
// median, 99th percentile and maximum time to the end of a stream, the
// first-event time, the gaps between a stream's events, events per second,
// and how many streams did not end with done. With -pid (the server's
// process, on Linux) it also prints the server's CPU time per event and
// its peak resident memory during the run. -ramp spreads the streams'
// starts over a duration. -hold measures streams that stay silent (a model
// that thinks: run the server with a long -mock-delay): each reads to its
// first event and holds on for the duration, and with -pid the tool
// prints what one held stream costs the server (the growth of its RSS,
// divided by the streams). -method GET and -body send another request
// (a resume, another server's body). It stops after -timeout whatever
// happens.
//
// go run ./examples/load/handwritten is a hand-written SSE handler
// (fmt.Fprintf and Flush) with the same token source as the example
// server's mock, to compare against; examples/load/compare.sh runs both.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/chat", "the chat endpoint")
	streams := flag.Int("streams", 1000, "concurrent streams")
	runes := flag.Int("runes", 300, "runes in the user message (the mock echoes it)")
	timeout := flag.Duration("timeout", 2*time.Minute, "stop after this long")
	pid := flag.Int("pid", 0, "the server's process id: report its CPU per event and peak RSS (Linux)")
	ramp := flag.Duration("ramp", 0, "start the streams evenly over this long (0: all at once)")
	hold := flag.Duration("hold", 0, "hold each stream this long after its first event, then report what a held stream costs (with -pid)")
	method := flag.String("method", http.MethodPost, "the request method (GET sends no body)")
	rawBody := flag.String("body", "", "the request body (default: one user message of -runes runes)")
	flag.Parse()
	if *streams < 1 || *runes < 1 || *ramp < 0 || *hold < 0 {
		fmt.Fprintln(os.Stderr, "load: -streams and -runes must be positive, -ramp and -hold not negative")
		os.Exit(2)
	}
	body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": strings.Repeat("字", *runes)}}})
	if *rawBody != "" {
		body = []byte(*rawBody)
	}
	if *method == http.MethodGet {
		body = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *hold > 0 {
		os.Exit(holdStreams(ctx, *url, *method, body, *streams, *ramp, *hold, *pid))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *streams, MaxConnsPerHost: 0}}

	type result struct {
		first, total time.Duration
		events       int
		gaps         []time.Duration
		err          string
	}
	results := make([]result, *streams)
	var wg sync.WaitGroup
	proc := sampleProcess(ctx, *pid)
	start := time.Now()
	for i := range *streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = func() result {
				if !waitTurn(ctx, start, i, *streams, *ramp) {
					return result{err: "timed out before it started"}
				}
				t0 := time.Now()
				resp, err := client.Do(newRequest(ctx, *method, *url, body))
				if err != nil {
					return result{err: "request: " + err.Error()}
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return result{err: fmt.Sprintf("status %d", resp.StatusCode)}
				}
				var r result
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 64<<10), 16<<20)
				var last time.Time
				for sc.Scan() {
					line := sc.Text()
					if strings.HasPrefix(line, "data:") {
						now := time.Now()
						if r.first == 0 {
							r.first = now.Sub(t0)
						} else {
							r.gaps = append(r.gaps, now.Sub(last))
						}
						last = now
						r.events++
					}
					switch line {
					case "event: done":
						r.total = time.Since(t0)
						return r
					case "event: error":
						sc.Scan()
						return result{err: "error event " + strings.TrimPrefix(sc.Text(), "data: ")}
					}
				}
				return result{err: fmt.Sprintf("ended without a terminal event (%v)", sc.Err())}
			}()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	usage := proc()
	var totals, firsts, gaps []time.Duration
	events := 0
	failures := map[string]int{}
	for _, r := range results {
		if r.err != "" {
			failures[r.err]++
			continue
		}
		totals = append(totals, r.total)
		firsts = append(firsts, r.first)
		gaps = append(gaps, r.gaps...)
		events += r.events
	}
	slices.Sort(totals)
	slices.Sort(firsts)
	slices.Sort(gaps)
	q := func(d []time.Duration, p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond)
	}
	fmt.Printf("streams %d, done %d, in %v\n", *streams, len(totals), time.Since(start).Round(time.Millisecond))
	fmt.Printf("time to done: median %v, p99 %v, max %v\n", q(totals, 0.5), q(totals, 0.99), q(totals, 1))
	fmt.Printf("time to the first event: median %v, p99 %v, max %v\n", q(firsts, 0.5), q(firsts, 0.99), q(firsts, 1))
	fmt.Printf("gaps between events: median %v, p99 %v, max %v\n", q(gaps, 0.5), q(gaps, 0.99), q(gaps, 1))
	fmt.Printf("events %d, %.0f/s\n", events, float64(events)/elapsed.Seconds())
	if usage.ok && events > 0 {
		perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(events) }
		fmt.Printf("server CPU %v, %.1f us per event (%.1f user, %.1f system); peak RSS %d MB\n", usage.cpu.Round(time.Millisecond),
			perEvent(usage.cpu), perEvent(usage.cpu-usage.sys), perEvent(usage.sys), usage.peakRSS>>20)
	}
	for msg, n := range failures {
		fmt.Printf("failed %d: %s\n", n, msg)
	}
	if len(failures) > 0 {
		os.Exit(1)
	}
}

// newRequest makes one stream's request.
func newRequest(ctx context.Context, method, url string, body []byte) *http.Request {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, url, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// waitTurn waits until stream i of n starts, spread evenly over ramp after
// start; false if ctx ended first.
func waitTurn(ctx context.Context, start time.Time, i, n int, ramp time.Duration) bool {
	at := start.Add(ramp * time.Duration(i) / time.Duration(n))
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// holdStreams opens n streams, waits for the first event of each, holds
// them all for hold and reports what the server's resident memory grew by,
// per stream. It returns the exit code.
func holdStreams(ctx context.Context, url, method string, body []byte, n int, ramp, hold time.Duration, pid int) int {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	before := procRSS(pid)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		first  = make(chan error, n)
		wg     sync.WaitGroup
		mu     sync.Mutex
		ended  int // streams that ended while held
		events int // events read while held, keep-alive comments included
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			if !waitTurn(ctx, start, i, n, ramp) {
				first <- ctx.Err()
				return
			}
			resp, err := client.Do(newRequest(ctx, method, url, body))
			if err != nil {
				first <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				first <- fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			sc := bufio.NewScanner(resp.Body)
			started := false
			for sc.Scan() {
				line := sc.Text()
				if !started && strings.HasPrefix(line, "data:") {
					started = true
					first <- nil
					continue
				}
				if started && (strings.HasPrefix(line, "data:") || strings.HasPrefix(line, ":")) {
					mu.Lock()
					events++
					mu.Unlock()
				}
			}
			if !started {
				first <- fmt.Errorf("ended before its first event (%v)", sc.Err())
				return
			}
			if ctx.Err() == nil {
				mu.Lock()
				ended++
				mu.Unlock()
			}
		})
	}
	failures := map[string]int{}
	for range n {
		if err := <-first; err != nil {
			failures[err.Error()]++
		}
	}
	held := time.Now()
	fmt.Printf("streams %d, %d held in %v\n", n, n-len(failures), held.Sub(start).Round(time.Millisecond))
	var peak int64
	t := time.NewTicker(50 * time.Millisecond)
	for time.Since(held) < hold && ctx.Err() == nil {
		peak = max(peak, procRSS(pid))
		<-t.C
	}
	t.Stop()
	mu.Lock()
	fmt.Printf("held %v: %d events or keep-alives arrived, %d streams ended\n", hold, events, ended)
	mu.Unlock()
	if pid > 0 && before > 0 && n > len(failures) {
		fmt.Printf("server RSS %d MB before, %d MB held: %.1f KB per held stream\n", before>>20, peak>>20,
			float64(peak-before)/1024/float64(n-len(failures)))
	}
	cancel()
	wg.Wait()
	for msg, k := range failures {
		fmt.Printf("failed %d: %s\n", k, msg)
	}
	if len(failures) > 0 {
		return 1
	}
	return 0
}

// procUsage is what a process used during the run.
type procUsage struct {
	ok      bool
	cpu     time.Duration // user + system
	sys     time.Duration // system: the kernel's share, mostly the writes
	peakRSS int64         // bytes
}

// sampleProcess starts watching process pid (0: none) and returns a
// function that stops and reports: the CPU time it used since now (from
// /proc/<pid>/stat) and the largest resident set seen (VmRSS, sampled
// every 50 ms).
func sampleProcess(ctx context.Context, pid int) func() procUsage {
	if pid <= 0 {
		return func() procUsage { return procUsage{} }
	}
	cpu0, sys0, ok := procCPU(pid)
	if !ok {
		fmt.Fprintf(os.Stderr, "load: cannot read /proc/%d\n", pid)
		return func() procUsage { return procUsage{} }
	}
	var mu sync.Mutex
	var peak int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if rss := procRSS(pid); rss > 0 {
				mu.Lock()
				peak = max(peak, rss)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() procUsage {
		close(stop)
		<-done
		cpu1, sys1, _ := procCPU(pid)
		mu.Lock()
		defer mu.Unlock()
		return procUsage{ok: true, cpu: cpu1 - cpu0, sys: sys1 - sys0, peakRSS: peak}
	}
}

// procCPU reads a process's user and system time from /proc/<pid>/stat
// (fields 14 and 15, in clock ticks of 1/100 s on Linux), and returns
// their sum and the system time.
func procCPU(pid int) (cpu, sys time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold spaces.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, 0, false
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	const tick = 10 * time.Millisecond
	return time.Duration(utime+stime) * tick, time.Duration(stime) * tick, true
}

// procRSS reads a process's resident set size from /proc/<pid>/status.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
