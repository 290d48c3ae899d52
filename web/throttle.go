package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Throttles on what anyone can do without an account: sign in, sign up,
// ask for a link. Their counts live in the database (store.Hit), so every
// copy of the server shares them, and they run on the wall clock
// (Config.WallClock), never on the business clock.
//
// Sign-in failures are counted three ways:
//   - per account and client address: after signinFreeFailures failures,
//     each further attempt from that address waits 2^k seconds (k = 0, 1,
//     …), at most signinMaxDelay. Only the owner's own address is slowed by
//     the owner's own typos; a guesser elsewhere slows only himself.
//   - per client address, across accounts: at most signinIPCeiling
//     failures an hour (password spraying).
//   - per account, across addresses: at most signinAccountCeiling failures
//     an hour (ASVS 2.2.1), high enough that a lockout needs a hundred
//     guesses from many addresses, and the email link still signs in.
//
// The keys are built from the email as typed (lower-cased), whether or not
// it has an account, so a throttled answer tells nothing about who has one.
const (
	signinFreeFailures   = 5
	signinMaxDelay       = 15 * time.Minute
	signinPairWindow     = 24 * time.Hour
	signinIPCeiling      = 100
	signinAccountCeiling = 100
	hour                 = time.Hour
)

// Limits on the forms that send mail, per hour.
const (
	signupsPerIP      = 20 // sign-ups from one client address
	signupsPerAddress = 5  // sign-ups for one email address
	linksPerIP        = 20 // sign-in link, reset and resend-confirmation requests from one client address
	linksPerAddress   = 10 // the same requests for one email address
	// mailsPerAddress is how many account mails (confirmation, sign-in,
	// reset, "you already have an account") one address gets an hour,
	// whoever asks. Past it, requests still get the same answer page, and
	// nothing is sent.
	mailsPerAddress = 5
)

func (s *Server) wallNow() time.Time { return s.wallTime.Now().UTC() }

func signinKeys(email, ip string) (pair, account, addr string) {
	return "signin:acct-ip:" + email + "|" + ip, "signin:acct:" + email, "signin:ip:" + ip
}

// signinDelay is how long to wait after the failures-th failure of one
// account from one address.
func signinDelay(failures int64) time.Duration {
	k := failures - signinFreeFailures
	if k < 0 {
		return 0
	}
	if k >= 10 {
		return signinMaxDelay
	}
	return min(time.Second<<k, signinMaxDelay)
}

// signinWait is how long a sign-in to email from ip must still wait; zero
// lets it through. It counts nothing.
func (s *Server) signinWait(ctx context.Context, email, ip string) (time.Duration, error) {
	now := s.wallNow()
	pair, account, addr := signinKeys(email, ip)
	h, err := s.db.HitsOf(ctx, pair, signinPairWindow, now)
	if err != nil {
		return 0, fmt.Errorf("sign-in throttle: %w", err)
	}
	var wait time.Duration
	if d := signinDelay(h.Count); d > 0 {
		wait = h.Last.Add(d).Sub(now)
	}
	for _, c := range []struct {
		key string
		max int64
	}{{account, signinAccountCeiling}, {addr, signinIPCeiling}} {
		h, err := s.db.HitsOf(ctx, c.key, hour, now)
		if err != nil {
			return 0, fmt.Errorf("sign-in throttle: %w", err)
		}
		if h.Count >= c.max {
			wait = max(wait, h.WindowEnd.Sub(now))
		}
	}
	return wait, nil
}

// signinFailed counts a failed sign-in.
func (s *Server) signinFailed(ctx context.Context, email, ip string) error {
	now := s.wallNow()
	pair, account, addr := signinKeys(email, ip)
	for key, w := range map[string]time.Duration{pair: signinPairWindow, account: hour, addr: hour} {
		if _, err := s.db.Hit(ctx, key, w, now); err != nil {
			return fmt.Errorf("sign-in throttle: %w", err)
		}
	}
	return nil
}

// signinSucceeded forgets the failures of this account from this address.
// The account's and the address's hourly counts stay: a success must not
// give a guesser a fresh allowance.
func (s *Server) signinSucceeded(ctx context.Context, email, ip string) error {
	pair, _, _ := signinKeys(email, ip)
	return s.db.ClearHits(ctx, pair)
}

// formLimit is one hourly limit on a form.
type formLimit struct {
	key string
	max int64
}

// overLimit counts one request against each limit and returns how long
// to wait if any is exceeded (zero otherwise).
func (s *Server) overLimit(ctx context.Context, limits ...formLimit) (time.Duration, error) {
	now := s.wallNow()
	var wait time.Duration
	for _, l := range limits {
		h, err := s.db.Hit(ctx, l.key, hour, now)
		if err != nil {
			return 0, fmt.Errorf("form throttle: %w", err)
		}
		if h.Count > l.max {
			wait = max(wait, h.WindowEnd.Sub(now))
		}
	}
	return wait, nil
}

// mayMail counts an account mail to addr and reports whether it may be
// sent. It must be called outside a transaction (SQLite has one writer).
func (s *Server) mayMail(ctx context.Context, addr string) (bool, error) {
	h, err := s.db.Hit(ctx, "mail:to:"+addr, hour, s.wallNow())
	if err != nil {
		return false, fmt.Errorf("mail throttle: %w", err)
	}
	if h.Count > mailsPerAddress {
		s.log.Warn("account mail not sent: too many to this address this hour", "count", h.Count)
		return false, nil
	}
	return true, nil
}

// retryAfter sets Retry-After for a wait and returns it in whole minutes
// (at least one), for the message.
func retryAfter(w http.ResponseWriter, wait time.Duration) int {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
	return max((secs+59)/60, 1)
}

// Body limits: every form is read through http.MaxBytesReader before it
// is parsed; a larger body is refused with 413 and changes nothing. No
// page takes a file upload (usage files go to the JSON API), so one limit
// serves every route.
const formBodyLimit = 64 << 10

// limitBody parses the form of an unsafe request within formBodyLimit.
func limitBody(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	tooLarge := fulfill.Errorf(fulfill.ETooLarge, "This form is too large: a page accepts at most %d KiB.", formBodyLimit>>10)
	if r.ContentLength > formBodyLimit {
		return tooLarge
	}
	r.Body = http.MaxBytesReader(w, r.Body, formBodyLimit)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return fulfill.Errorf(fulfill.EInvalid, "The form could not be read. Go back, reload the page and try again.")
	}
	return nil
}

// plural is "1 minute", "3 minutes".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
