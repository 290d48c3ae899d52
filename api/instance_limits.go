package api

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/ratelimit"
)

// Rate is N requests per Per, in bursts of up to N.
type Rate struct {
	N   int
	Per time.Duration
}

// InstanceLimit is how often one instance endpoint may be called from one
// client address and for one instance. An instance is counted under the
// subscription of the license it sends, so that one customer's license
// cannot spend another instance's allowance by naming its instance id.
type InstanceLimit struct {
	PerIP, PerInstance Rate
}

// InstanceLimits bound the instance endpoints, which need no vendor token.
// They count in wall time (never the simulated business clock) and in
// memory, per copy of the server, except FailedActivationsPerIP, which is
// counted in the database and so holds across copies. A refused request is
// answered 429 rate_limited with Retry-After. Zero fields take the values of
// DefaultInstanceLimits.
type InstanceLimits struct {
	Activations InstanceLimit // per instance: the instance id sent
	// FailedActivationsPerIP is how many refused activation codes one
	// client address may send: guessing codes stops there.
	FailedActivationsPerIP Rate
	SeatLinks              InstanceLimit
	UsageData              InstanceLimit
	UsageFiles             InstanceLimit
}

// DefaultInstanceLimits are generous for real instances, which activate
// once, sync daily and send a service ping weekly, and for many instances
// behind one address.
var DefaultInstanceLimits = InstanceLimits{
	Activations:            InstanceLimit{PerIP: Rate{30, time.Hour}, PerInstance: Rate{10, time.Hour}},
	FailedActivationsPerIP: Rate{10, time.Hour},
	SeatLinks:              InstanceLimit{PerIP: Rate{600, time.Hour}, PerInstance: Rate{12, time.Hour}},
	UsageData:              InstanceLimit{PerIP: Rate{60, time.Minute}, PerInstance: Rate{6, time.Minute}},
	UsageFiles:             InstanceLimit{PerIP: Rate{600, time.Hour}, PerInstance: Rate{30, time.Hour}},
}

func (r Rate) or(def Rate) Rate {
	if r.N <= 0 || r.Per <= 0 {
		return def
	}
	return r
}

// limiterPair limits one endpoint per client address and per instance.
type limiterPair struct {
	ip, instance *ratelimit.Limiter
}

func newPair(l, def InstanceLimit) *limiterPair {
	ip, inst := l.PerIP.or(def.PerIP), l.PerInstance.or(def.PerInstance)
	return &limiterPair{ip: ratelimit.New(ip.N, ip.Per), instance: ratelimit.New(inst.N, inst.Per)}
}

// instanceLimiters are the limiters of the instance endpoints.
type instanceLimiters struct {
	activations, seatLinks, usageData, usageFiles *limiterPair
	failedActivations                             Rate
}

func newInstanceLimiters(l InstanceLimits) *instanceLimiters {
	d := DefaultInstanceLimits
	return &instanceLimiters{
		activations:       newPair(l.Activations, d.Activations),
		seatLinks:         newPair(l.SeatLinks, d.SeatLinks),
		usageData:         newPair(l.UsageData, d.UsageData),
		usageFiles:        newPair(l.UsageFiles, d.UsageFiles),
		failedActivations: l.FailedActivationsPerIP.or(d.FailedActivationsPerIP),
	}
}

// limitError is a 429 that carries its Retry-After.
type limitError struct {
	err  *fulfill.Error
	wait time.Duration
}

func (e *limitError) Error() string { return e.err.Error() }
func (e *limitError) Unwrap() error { return e.err }

func rateLimited(wait time.Duration, format string, args ...any) error {
	return &limitError{err: fulfill.Errorf(fulfill.ERateLimited, format, args...), wait: wait}
}

// setRetryAfter sets the Retry-After header of a rate-limited answer.
func setRetryAfter(w http.ResponseWriter, err error) {
	var le *limitError
	if errors.As(err, &le) {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(le.wait)))
	}
}

// wallNow is the real time, which rate limits count in.
func (s *Server) wallNow() time.Time {
	if s.Wall != nil {
		return s.Wall.Now()
	}
	return time.Now()
}

// addressKey is the client's address as a rate-limit key: an IPv6 client
// is counted by its /64, which one site usually holds whole (so rotating
// addresses within it gains nothing).
func addressKey(r *http.Request) string {
	a, err := netip.ParseAddr(remote(r))
	if err != nil {
		return remote(r)
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// allowIP counts a request from the client's address.
func (s *Server) allowIP(r *http.Request, p *limiterPair) error {
	if ok, wait := p.ip.Allow(addressKey(r), s.wallNow()); !ok {
		return rateLimited(wait, "Too many requests from this address; retry in %d s.", ratelimit.RetryAfterSeconds(wait))
	}
	return nil
}

// allowInstance counts a request for an instance of a subscription.
func (s *Server) allowInstance(p *limiterPair, subscriptionID, instanceID string) error {
	if ok, wait := p.instance.Allow(subscriptionID+"\x00"+instanceID, s.wallNow()); !ok {
		return rateLimited(wait, "Too many requests for this instance; retry in %d s.", ratelimit.RetryAfterSeconds(wait))
	}
	return nil
}

// allowLicensed counts a request for the instance under the subscription of
// the license it sends. A license that does not verify is not counted here
// (only per address): the service refuses it.
func (s *Server) allowLicensed(p *limiterPair, licenseKey, instanceID string) error {
	sub, err := s.Svc.LicenseSubscription(licenseKey)
	if err != nil {
		return nil
	}
	return s.allowInstance(p, sub, instanceID)
}

// failedActivationKey is the database throttle key of an address's refused
// activation codes.
func failedActivationKey(r *http.Request) string { return "activation:fail:" + addressKey(r) }

// checkFailedActivations refuses an address that sent too many wrong
// activation codes, counted by every copy of the server.
func (s *Server) checkFailedActivations(r *http.Request) error {
	rate := s.limits.failedActivations
	now := s.wallNow()
	h, err := s.DB.HitsOf(r.Context(), failedActivationKey(r), rate.Per, now)
	if err != nil {
		return err
	}
	if h.Count >= int64(rate.N) {
		wait := h.WindowEnd.Sub(now)
		return rateLimited(wait, "Too many wrong activation codes from this address; retry in %d s.", ratelimit.RetryAfterSeconds(wait))
	}
	return nil
}

// countFailedActivation counts a refused activation code (an error about
// the activation_code field) against the client's address.
func (s *Server) countFailedActivation(r *http.Request, err error) {
	var fe *fulfill.Error
	if !errors.As(err, &fe) || fe.Field != "activation_code" {
		return
	}
	if _, herr := s.DB.Hit(r.Context(), failedActivationKey(r), s.limits.failedActivations.Per, s.wallNow()); herr != nil {
		s.Logger.Error("count a failed activation", "err", herr)
	}
}
