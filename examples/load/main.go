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
// first-event time, and how many streams did not end with done. It stops
// after -timeout whatever happens.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
	flag.Parse()
	if *streams < 1 || *runes < 1 {
		fmt.Fprintln(os.Stderr, "load: -streams and -runes must be positive")
		os.Exit(2)
	}
	body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": strings.Repeat("字", *runes)}}})
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *streams, MaxConnsPerHost: 0}}

	type result struct {
		first, total time.Duration
		err          string
	}
	results := make([]result, *streams)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = func() result {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *url, strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
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
				for sc.Scan() {
					line := sc.Text()
					if r.first == 0 && strings.HasPrefix(line, "data:") {
						r.first = time.Since(t0)
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
	var totals, firsts []time.Duration
	failures := map[string]int{}
	for _, r := range results {
		if r.err != "" {
			failures[r.err]++
			continue
		}
		totals = append(totals, r.total)
		firsts = append(firsts, r.first)
	}
	slices.Sort(totals)
	slices.Sort(firsts)
	q := func(d []time.Duration, p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond)
	}
	fmt.Printf("streams %d, done %d, in %v\n", *streams, len(totals), time.Since(start).Round(time.Millisecond))
	fmt.Printf("time to done: median %v, p99 %v, max %v\n", q(totals, 0.5), q(totals, 0.99), q(totals, 1))
	fmt.Printf("time to the first event: median %v, p99 %v, max %v\n", q(firsts, 0.5), q(firsts, 0.99), q(firsts, 1))
	for msg, n := range failures {
		fmt.Printf("failed %d: %s\n", n, msg)
	}
	if len(failures) > 0 {
		os.Exit(1)
	}
}
