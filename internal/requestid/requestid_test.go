package requestid

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Every line logged with the request's context names its id, in JSON too.
func TestLogLinesOfARequestCarryItsID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(LogHandler{slog.NewJSONHandler(&buf, nil)}).With("component", "test")
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "inside")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(Header, "abc-123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line["request_id"] != "abc-123" || line["component"] != "test" || rec.Header().Get(Header) != "abc-123" {
		t.Fatalf("line %v, header %q", line, rec.Header().Get(Header))
	}
	buf.Reset()
	log.Info("outside any request")
	if bytes.Contains(buf.Bytes(), []byte("request_id")) {
		t.Fatalf("a line outside a request got an id: %s", buf.String())
	}
}
