// Package receiver plays the vendor's SaaS product for demos and tests: it
// serves POST /fulfill/provision, checks the bearer token against Fulfill's
// JWKS, and records which plan each namespace is on. `fulfill saas-receiver`
// runs it; tests run it in-process with httptest.
package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill/saas"
)

// Receiver is the product side of provisioning. Set the fields before
// serving; JWKSURL may be set later with SetJWKSURL.
type Receiver struct {
	// FailFirst answers the first N provisioning requests with 500, to show
	// Fulfill's retries.
	FailFirst int
	// Out, when set, gets one line per request.
	Out io.Writer
	// Now is the receiver's clock for token expiry; nil means time.Now.
	Now func() time.Time
	// Client fetches the JWKS; nil means a client with a 10s timeout.
	Client *http.Client

	mu       sync.Mutex
	jwksURL  string
	keys     saas.JWKS
	seen     int
	log      []Received
	accounts map[string]saas.Request
}

// Received is one request as the receiver saw it.
type Received struct {
	Request saas.Request
	Status  int
	Error   string
	Claims  *saas.Claims
	Token   string
}

// New returns a receiver that trusts the keys published at jwksURL.
func New(jwksURL string) *Receiver { return &Receiver{jwksURL: jwksURL} }

// SetJWKSURL sets where the keys are published.
func (rc *Receiver) SetJWKSURL(u string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.jwksURL, rc.keys = u, saas.JWKS{}
}

// Namespaces returns what each provisioned namespace is entitled to now.
func (rc *Receiver) Namespaces() map[string]saas.Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]saas.Request, len(rc.accounts))
	for k, v := range rc.accounts {
		out[k] = v
	}
	return out
}

// Log returns every request received, in order.
func (rc *Receiver) Log() []Received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Received(nil), rc.log...)
}

func (rc *Receiver) now() time.Time {
	if rc.Now != nil {
		return rc.Now()
	}
	return time.Now()
}

// ServeHTTP serves POST /fulfill/provision.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != saas.ProvisionPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	status, rec := rc.handle(r)
	rc.mu.Lock()
	rc.log = append(rc.log, rec)
	rc.mu.Unlock()
	if rc.Out != nil {
		if rec.Error != "" {
			fmt.Fprintf(rc.Out, "%d %s: %s\n", status, rec.Request.Namespace, rec.Error)
		} else {
			fmt.Fprintf(rc.Out, "%d provisioned namespace %s: plan %s, %d seats, %s..%s, state %s (event %s)\n", status,
				rec.Request.Namespace, rec.Request.Plan, rec.Request.Seats, rec.Request.StartsOn, rec.Request.EndsOn, rec.Request.State, rec.Request.EventID)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if rec.Error != "" {
		json.NewEncoder(w).Encode(map[string]string{"error": rec.Error})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"namespace": rec.Request.Namespace, "status": "provisioned"})
}

func (rc *Receiver) handle(r *http.Request) (int, Received) {
	var rec Received
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		rec.Error, rec.Status = "could not read the body", http.StatusBadRequest
		return rec.Status, rec
	}
	json.Unmarshal(body, &rec.Request)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		rec.Error = "missing bearer token"
		rec.Status = http.StatusUnauthorized
		return rec.Status, rec
	}
	rec.Token = tok
	claims, err := rc.verify(r.Context(), tok)
	if err != nil {
		rec.Error = err.Error()
		rec.Status = http.StatusUnauthorized
		return rec.Status, rec
	}
	rec.Claims = claims
	if rec.Request.Namespace == "" {
		rec.Error = "namespace is required"
		rec.Status = http.StatusUnprocessableEntity
		return rec.Status, rec
	}
	rc.mu.Lock()
	rc.seen++
	fail := rc.seen <= rc.FailFirst
	if !fail {
		if rc.accounts == nil {
			rc.accounts = map[string]saas.Request{}
		}
		rc.accounts[rec.Request.Namespace] = rec.Request
	}
	rc.mu.Unlock()
	if fail {
		rec.Error = "simulated outage"
		rec.Status = http.StatusInternalServerError
		return rec.Status, rec
	}
	rec.Status = http.StatusOK
	return rec.Status, rec
}

// verify checks the token, fetching the key set again when the token names
// a key not seen yet (after a key rotation).
func (rc *Receiver) verify(ctx context.Context, tok string) (*saas.Claims, error) {
	kid, err := saas.KeyID(tok)
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	keys, url := rc.keys, rc.jwksURL
	rc.mu.Unlock()
	if _, ok := keys.Key(kid); !ok {
		if keys, err = rc.fetch(ctx, url); err != nil {
			return nil, err
		}
		rc.mu.Lock()
		rc.keys = keys
		rc.mu.Unlock()
	}
	return saas.VerifyToken(tok, keys, rc.now())
}

func (rc *Receiver) fetch(ctx context.Context, url string) (saas.JWKS, error) {
	var ks saas.JWKS
	if url == "" {
		return ks, errors.New("no JWKS URL configured")
	}
	c := rc.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ks, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return ks, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ks, fmt.Errorf("fetch JWKS: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ks); err != nil {
		return ks, fmt.Errorf("fetch JWKS: %w", err)
	}
	return ks, nil
}
