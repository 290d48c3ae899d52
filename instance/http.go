package instance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxResponseBytes bounds what the client reads from the server.
const maxResponseBytes = 4 << 20

// APIError is a refusal by the server: a non-2xx answer, with the fields of
// its {"error":{"code","message","field"}} body when it has one.
type APIError struct {
	Status  int    // HTTP status
	Code    string // e.g. "activation_code_invalid", "license_invalid"
	Message string
	Field   string // the request field at fault, if any

	retryAfter time.Duration // parsed Retry-After; 0 if absent
}

// Error is one line: "server: 404 activation_code_invalid: message (field x)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else {
		b.WriteString(" " + http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Field != "" {
		b.WriteString(" (field " + e.Field + ")")
	}
	return oneLine(b.String())
}

// retryable reports whether the request may succeed if sent again.
func (e *APIError) retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (c *Client) maxAttempts() int {
	if c.MaxAttempts > 0 {
		return c.MaxAttempts
	}
	return DefaultMaxAttempts
}

var defaultHTTP = &http.Client{Timeout: DefaultTimeout}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the wait before retry number n (1 for the first retry):
// full jitter over [0, min(RetryCap, RetryBase × 2^(n−1))].
func (c *Client) backoff(n int) time.Duration {
	limit := RetryCap
	if n-1 < 16 {
		limit = min(RetryCap, RetryBase<<(n-1))
	}
	if c.jitter != nil {
		return c.jitter(limit)
	}
	return rand.N(limit + 1)
}

// do sends one JSON request, retrying network errors, 429 and 5xx, and
// decodes a want-status answer into out. Other answers are *APIError.
func (c *Client) do(ctx context.Context, base, method, path string, in any, want int, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	attempts := c.maxAttempts()
	for n := 1; ; n++ {
		err := c.once(ctx, base+path, method, body, want, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		var apiErr *APIError
		wait := time.Duration(-1)
		if errors.As(err, &apiErr) {
			if !apiErr.retryable() {
				return err
			}
			if apiErr.retryAfter > MaxRetryAfter {
				return fmt.Errorf("%w (the server asks to retry after %v)", err, apiErr.retryAfter)
			}
			if apiErr.retryAfter > 0 {
				wait = apiErr.retryAfter
			}
		}
		if n >= attempts {
			if attempts > 1 {
				return fmt.Errorf("%w (after %d attempts)", err, n)
			}
			return err
		}
		if wait < 0 {
			wait = c.backoff(n)
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w; %w", err, serr)
		}
	}
}

// once sends one attempt.
func (c *Client) once(ctx context.Context, url, method string, body []byte, want int, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "fulfill-instance/"+c.version())
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, url, maxResponseBytes)
	}
	if resp.StatusCode != want {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return fmt.Errorf("%s %s: status %d, want %d", method, url, resp.StatusCode, want)
		}
		return c.apiError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: bad JSON answer: %w", method, url, err)
		}
	}
	return nil
}

func (c *Client) apiError(resp *http.Response, data []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
	} else if s := oneLine(string(data)); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		e.Message = s
	}
	if e.retryable() {
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(24*time.Hour/time.Second) {
			return 24 * time.Hour
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
