package stripe

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/fulfillhq/fulfill/internal/stripemock"
)

func startStripeMock(t *testing.T) string { return stripemock.Start(t) }

// recorded is one request seen by recorder.
type recorded struct {
	Method, Path string
	Header       http.Header
	Form         url.Values
	RespHeader   http.Header
}

// recorder is an http.RoundTripper that keeps every request, so tests can
// see what reached the server, and may rewrite responses.
type recorder struct {
	base  http.RoundTripper
	patch func(*http.Request, []byte) []byte // nil: leave bodies alone

	mu   sync.Mutex
	reqs []recorded
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := recorded{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone()}
	if req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			body, _ := io.ReadAll(b)
			b.Close()
			rec.Form, _ = url.ParseQuery(string(body))
		}
	}
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		rec.RespHeader = resp.Header.Clone()
		if r.patch != nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				return nil, rerr
			}
			body = r.patch(req, body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Del("Content-Length")
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	return resp, err
}

// requests returns the recorded requests to path.
func (r *recorder) requests(path string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.reqs {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}
