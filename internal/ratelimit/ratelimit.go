// Package ratelimit bounds request rates per key (a client address, an
// instance) in memory, with the generic cell rate algorithm: a key may make
// Limit requests per Per, in bursts of up to Limit, and a refused request
// learns how long to wait. It keeps one timestamp per active key.
//
// It is per process: N copies of the server allow N times the rate, which
// still bounds abuse from outside. Throttles whose total matters across
// copies (failed sign-ins, mails to one address) live in the database
// instead (store.Hit).
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows Limit events per Per for each key.
type Limiter struct {
	limit int
	per   time.Duration

	mu    sync.Mutex
	tat   map[string]time.Time // theoretical arrival time per key
	swept time.Time
}

// New returns a limiter of limit events per per for each key.
func New(limit int, per time.Duration) *Limiter {
	if limit < 1 {
		limit = 1
	}
	return &Limiter{limit: limit, per: per, tat: map[string]time.Time{}}
}

// Allow counts an event for key at now unless key is over its rate; when
// refused it says how long until the next event would be allowed.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	interval := l.per / time.Duration(l.limit)
	burst := l.per - interval // how far ahead of now the schedule may run
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	tat, found := l.tat[key]
	if !found || tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > burst {
		return false, ahead - burst
	}
	l.tat[key] = tat.Add(interval)
	return true, 0
}

// sweep drops keys idle long enough to be back at a full burst, at most once
// a period, so memory follows the number of active keys.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < l.per {
		return
	}
	l.swept = now
	for k, tat := range l.tat {
		if tat.Before(now) {
			delete(l.tat, k)
		}
	}
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1: the value
// of a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
