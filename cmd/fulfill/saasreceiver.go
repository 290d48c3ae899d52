package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill/saas/receiver"
)

const saasReceiverUsage = `Usage: fulfill saas-receiver [--addr HOST:PORT] [--jwks URL] [--fail-first N]

Plays the SaaS product that Fulfill provisions, for demos: it accepts the
provisioning requests whose token verifies against Fulfill's JWKS and
prints each provisioned namespace.
`

// saasReceiverCmd plays the vendor's SaaS product for demos: it accepts
// provisioning requests whose token verifies against Fulfill's JWKS and
// prints each provisioned namespace.
func saasReceiverCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("saas-receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setUsage(fs, saasReceiverUsage)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address HOST:PORT; point fulfill serve --saas-provisioning-url at http://HOST:PORT")
	jwks := fs.String("jwks", "http://127.0.0.1:8080/.well-known/jwks.json", "URL of Fulfill's JWKS, to verify provisioning tokens")
	failFirst := fs.Int("fail-first", 0, "answer the first N provisioning requests with 500, to watch Fulfill retry")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usageError{fmt.Sprintf("--addr %q: want HOST:PORT", *addr)}
	}
	if !strings.HasPrefix(*jwks, "http://") && !strings.HasPrefix(*jwks, "https://") {
		return usageError{fmt.Sprintf("--jwks %q: want an http:// or https:// URL", *jwks)}
	}
	if *failFirst < 0 {
		return usageError{"--fail-first must be 0 or more"}
	}
	rc := receiver.New(*jwks)
	rc.FailFirst, rc.Out = *failFirst, stdout
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "SaaS receiver listening at http://%s/fulfill/provision (keys from %s)\n", ln.Addr(), *jwks)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
