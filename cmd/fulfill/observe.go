package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/internal/requestid"
	"github.com/fulfillhq/fulfill/metrics"
	"github.com/fulfillhq/fulfill/store"
)

// newLogger builds the server's logger: text (default) or JSON lines, each
// line of a request carrying its request_id.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch format {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, usageError{fmt.Sprintf("--log-format %q: want text or json", format)}
	}
	return slog.New(requestid.LogHandler{Handler: h}), nil
}

// newRecorder makes the server's metrics and registers the collectors that
// read the database at scrape time: pool use and the job queue.
func newRecorder(log *slog.Logger, db *store.DB) *metrics.Recorder {
	rec := metrics.New(log)
	rec.CollectDB("write", db.Write)
	if db.Read != db.Write {
		rec.CollectDB("read", db.Read)
	}
	rec.CollectJobs(func(ctx context.Context) ([]metrics.JobCount, error) {
		counts, err := db.JobCounts(ctx)
		out := make([]metrics.JobCount, len(counts))
		for i, c := range counts {
			out[i] = metrics.JobCount{State: c.State, Kind: c.Kind, N: c.N}
		}
		return out, err
	})
	return rec
}

// observed wraps the server's root handler: a request id on every request,
// then metrics. Without a separate metrics address, /metrics is served here
// behind the admin token.
func observed(root *http.ServeMux, rec *metrics.Recorder, metricsAddr, adminToken string) http.Handler {
	if metricsAddr == "" {
		root.Handle("GET /metrics", adminOnly(adminToken, rec.Handler()))
	}
	return requestid.Handler(rec.Middleware(root))
}

// adminOnly lets through requests that carry the admin token.
func adminOnly(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer realm="fulfill"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"Send the admin API token as \"Authorization: Bearer TOKEN\"."}}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveMetrics serves /metrics without authentication on its own address
// (keep it on a private network) until ctx ends.
func serveMetrics(ctx context.Context, ln net.Listener, rec *metrics.Recorder, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", rec.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener", "err", err)
	}
}
