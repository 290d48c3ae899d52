package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/payments/testpay"
	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

// loadtest measures the portal and console pages under load (issue 4:
// every page under 50 ms at the 99th percentile with 50 concurrent
// signed-in users on SQLite with 10,000 customers). It seeds a data dir,
// serves the web pages in-process on 127.0.0.1, signs users in through the
// sign-in form, runs concurrent clients for a bounded time or number of
// requests, and prints per-page latency percentiles.
func loadtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := flags("loadtest", stderr, getenv)
	setUsage(fs, "Usage: fulfill loadtest [flags]\n\nSeeds a database, loads the portal and console pages with concurrent signed-in\nclients and prints per-page latency percentiles.\n")
	customers := fs.Int("customers", 10000, "customers to load (each with a subscription)")
	users := fs.Int("users", 50, "signed-in customer users, one per client")
	clients := fs.Int("clients", 50, "concurrent clients")
	duration := fs.Duration("duration", 20*time.Second, "how long to run")
	requests := fs.Int("requests", 0, "stop after this many requests (0: run for --duration)")
	think := fs.Duration("think", time.Second, "mean pause of a client between two pages, like a person reading (uniform in 0.5–1.5×); 0 for a closed loop that measures saturation")
	only := fs.String("pages", "", "comma-separated page names to request (default: all)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured run to this file (go tool pprof)")
	target := fs.Duration("target", 50*time.Millisecond, "the p99 every page must stay under; a page above it makes the exit status 1")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *users < 1 || *clients < 1 || *customers < *users || *duration <= 0 || *duration > time.Hour {
		return usageError{"want --users ≥ 1, --clients ≥ 1, --customers ≥ --users and 0 < --duration ≤ 1h"}
	}
	// Without --data-dir (or --database-url): a fresh directory, removed
	// afterwards, never the default data dir of "fulfill serve".
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "data-dir" || f.Name == "database-url" })
	if !explicit {
		d, err := os.MkdirTemp("", "fulfill-loadtest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.DataDir, c.DatabaseURL = d, ""
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return err
	}
	db, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	ks := c.keyStore()
	if list, err := ks.List(); err != nil {
		return err
	} else if len(list) == 0 {
		if _, err := ks.Generate(true); err != nil {
			return err
		}
	}
	clock := fulfill.ClockFunc(time.Now)
	svc := &commerce.Service{DB: db, Clock: clock, Payments: testpay.New(), Tax: billing.DefaultTaxTable("US"), Keys: ks}
	if _, err := svc.LoadDemoCatalog(ctx); err != nil {
		return err
	}
	seed, err := seedLoad(ctx, svc, db, *customers, *users, stdout)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	// The server, on loopback only.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	w, err := web.New(web.Config{Service: svc, DB: db, Clock: clock, DashboardTTL: 30 * time.Second, BaseURL: "http://" + ln.Addr().String(),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	// As `serve` does, compute the dashboard's figures before the first visit.
	if err := w.WarmDashboard(ctx); err != nil {
		return err
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Serving %s (%s, %s).\n", base, db.Dialect, c.dbURL())

	tr := &http.Transport{MaxIdleConns: 4 * *clients, MaxIdleConnsPerHost: 4 * *clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	signIn := func(path, email string) (*http.Client, error) {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.PostForm(base+path, url.Values{"email": {email}, "password": {loadPassword}})
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			return nil, fmt.Errorf("sign in %s: status %d", email, res.StatusCode)
		}
		return hc, nil
	}
	cust := make([]*http.Client, len(seed.users))
	for i, u := range seed.users {
		if cust[i], err = signIn("/signin", u.email); err != nil {
			return err
		}
	}
	staff, err := signIn("/admin/signin", seed.staff)
	if err != nil {
		return err
	}
	anon := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fmt.Fprintf(stdout, "Signed in %d customer users and 1 staff user.\n", len(cust))

	// The pages: what a client requests, in turn.
	type page struct {
		name string
		want int
		url  func(worker, n int) (*http.Client, string)
	}
	user := func(w int) loadUser { return seed.users[w%len(seed.users)] }
	pages := []page{
		{"home", 200, func(w, n int) (*http.Client, string) { return anon, "/" }},
		{"subscriptions", 200, func(w, n int) (*http.Client, string) { return cust[w%len(cust)], "/subscriptions" }},
		{"subscription", 200, func(w, n int) (*http.Client, string) { return cust[w%len(cust)], "/subscriptions/" + user(w).sub }},
		{"invoices", 200, func(w, n int) (*http.Client, string) { return cust[w%len(cust)], "/invoices" }},
		{"invoice", 200, func(w, n int) (*http.Client, string) { return cust[w%len(cust)], "/invoices/" + user(w).invoice }},
		{"account", 200, func(w, n int) (*http.Client, string) { return cust[w%len(cust)], "/account" }},
		{"account detail", 200, func(w, n int) (*http.Client, string) { return cust[w%len(cust)], "/account/" + user(w).customer }},
		{"admin dashboard", 200, func(w, n int) (*http.Client, string) { return staff, "/admin" }},
		{"admin search", 303, func(w, n int) (*http.Client, string) {
			return staff, "/admin/customers?q=" + url.QueryEscape(seed.emails[(w*7919+n*104729)%len(seed.emails)])
		}},
		{"admin customer", 200, func(w, n int) (*http.Client, string) {
			return staff, "/admin/customers/" + seed.customers[(w*7919+n*104729)%len(seed.customers)]
		}},
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		pages = slices.DeleteFunc(pages, func(p page) bool { return !slices.Contains(want, p.name) })
		if len(pages) == 0 {
			return usageError{"--pages: no such page"}
		}
	}
	lat := make([][]time.Duration, len(pages))
	errs := make([]int, len(pages))
	var firstErr []string
	var mu sync.Mutex
	var done atomic.Int64
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	// The run stops at the deadline or on Ctrl-C; requests in flight then
	// finish (they are measured) rather than being cut off.
	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for wk := range *clients {
		wg.Go(func() {
			local := make([][]time.Duration, len(pages))
			localErr := make([]int, len(pages))
			if *think > 0 { // users arrive spread out, not all in the same millisecond
				time.Sleep(time.Duration(rand.Int64N(int64(*think))))
			}
			for n := 0; runCtx.Err() == nil; n++ {
				if *requests > 0 && done.Add(1) > int64(*requests) {
					break
				}
				i := (wk + n) % len(pages)
				hc, path := pages[i].url(wk, n)
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, base+path, nil)
				t0 := time.Now()
				res, err := hc.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				d := time.Since(t0)
				if *requests == 0 {
					done.Add(1)
				}
				local[i] = append(local[i], d)
				if *think > 0 {
					pause := time.Duration(float64(*think) * (0.5 + rand.Float64()))
					select {
					case <-runCtx.Done():
					case <-time.After(pause):
					}
				}
				if err != nil || res.StatusCode != pages[i].want {
					localErr[i]++
					mu.Lock()
					if len(firstErr) < 5 {
						st := 0
						if res != nil {
							st = res.StatusCode
						}
						firstErr = append(firstErr, fmt.Sprintf("%s %s: status %d, %v", pages[i].name, path, st, err))
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			for i := range pages {
				lat[i] = append(lat[i], local[i]...)
				errs[i] += localErr[i]
			}
			mu.Unlock()
		})
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := int64(0)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(stderr, "  %4.0fs  %7d requests  %6d req/s\n", time.Since(start).Seconds(), n, n-last)
				last = n
			}
		}
	}()
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)

	total, totalErr := 0, 0
	slow := []string{}
	fmt.Fprintf(stdout, "\n%d clients (think time %s), %d customers, %s on %s:\n", *clients, *think, seed.total, elapsed.Round(time.Millisecond), db.Dialect)
	fmt.Fprintf(stdout, "%-16s %8s %6s %9s %9s %9s %9s\n", "page", "count", "errors", "p50", "p95", "p99", "max")
	for i, p := range pages {
		ds := lat[i]
		slices.Sort(ds)
		total += len(ds)
		totalErr += errs[i]
		fmt.Fprintf(stdout, "%-16s %8d %6d %9s %9s %9s %9s\n", p.name, len(ds), errs[i], ms(pct(ds, 50)), ms(pct(ds, 95)), ms(pct(ds, 99)), ms(pct(ds, 100)))
		if pct(ds, 99) >= *target {
			slow = append(slow, p.name)
		}
	}
	fmt.Fprintf(stdout, "%-16s %8d %6d   %.0f req/s\n", "all", total, totalErr, float64(total)/elapsed.Seconds())
	for _, e := range firstErr {
		fmt.Fprintln(stdout, "error:", e)
	}
	if len(slow) > 0 || totalErr > 0 {
		return fmt.Errorf("p99 at or above %s: %s; %d errors", *target, strings.Join(slow, ", "), totalErr)
	}
	fmt.Fprintf(stdout, "Every page's p99 is under %s.\n", *target)
	return nil
}

const loadPassword = "load test password"

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p + 99) / 100
	return ds[min(max(i-1, 0), len(ds)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

type loadUser struct{ email, customer, sub, invoice string }

type loadSeed struct {
	users     []loadUser
	staff     string
	customers []string // ids of every customer, for the console's pages
	emails    []string
	total     int
}

// seedLoad loads customers with subscriptions by import (once: a data dir
// seeded before is reused), then gives the first users' customers a
// purchase (invoice, payment, license) and a user who signs in.
func seedLoad(ctx context.Context, svc *commerce.Service, db *store.DB, customers, users int, stdout io.Writer) (*loadSeed, error) {
	have, err := db.Customers(ctx, fulfill.Page{Limit: customers + users + 1})
	if err != nil {
		return nil, err
	}
	if n := len(have); n < customers {
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write([]string{"email", "name", "company", "country", "plan", "seats", "starts_on", "ends_on"})
		today := fulfill.Today(svc.Clock)
		for i := n; i < customers; i++ {
			starts := today.AddDays(-(i % 360))
			cw.Write([]string{fmt.Sprintf("customer%05d@load.example", i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("Company %05d Ltd", i),
				[]string{"US", "DE", "FR", "GB", "CA"}[i%5], []string{"sm-premium", "sm-ultimate", "saas-premium"}[i%3],
				fmt.Sprint(5 + i%200), starts.String(), starts.AddDays(365).String()})
		}
		cw.Flush()
		t0 := time.Now()
		rep, err := svc.Import(ctx, commerce.ImportCustomers, &buf, commerce.ImportOptions{Actor: "loadtest"})
		if err != nil {
			return nil, err
		}
		if len(rep.Rejected) > 0 {
			return nil, fmt.Errorf("import rejected %d rows, first: %s", len(rep.Rejected), rep.Rejected[0])
		}
		fmt.Fprintf(stdout, "Imported %d customers with subscriptions in %s.\n", rep.Customers, time.Since(t0).Round(time.Millisecond))
		if have, err = db.Customers(ctx, fulfill.Page{Limit: customers + users + 1}); err != nil {
			return nil, err
		}
	}
	seed := &loadSeed{total: len(have), staff: "staff@load.example"}
	for _, c := range have {
		seed.customers = append(seed.customers, c.ID)
		seed.emails = append(seed.emails, c.Email)
	}
	slices.SortFunc(have, func(a, b *fulfill.Customer) int { return strings.Compare(a.Email, b.Email) })
	hash := web.HashPassword(loadPassword)
	now := svc.Clock.Now().UTC()
	for _, c := range have[:users] {
		email := "user-" + c.Email
		u := loadUser{email: email, customer: c.ID}
		existing, err := db.UserByEmail(ctx, email)
		if err != nil && fulfill.ErrorCode(err) != fulfill.ENotFound {
			return nil, err
		}
		if existing == nil {
			res, err := svc.Purchase(ctx, "loadtest", commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 10, PaymentMethod: "pm_card_visa"})
			if err != nil {
				return nil, err
			}
			err = db.InTx(ctx, func(tx *store.Tx) error {
				nu := &store.User{ID: fulfill.NewID("usr"), Email: email, Name: c.Name, PasswordHash: hash, Role: "customer", ConfirmedAt: &now, CreatedAt: now}
				if err := tx.InsertUser(nu); err != nil {
					return err
				}
				return tx.LinkCustomer(nu.ID, c.ID, now)
			})
			if err != nil {
				return nil, err
			}
			_ = res
		}
		invs, err := db.Invoices(ctx, c.ID, "", fulfill.Page{Limit: 1})
		if err != nil || len(invs) == 0 {
			return nil, fmt.Errorf("no invoice for %s: %v", c.ID, err)
		}
		if invs[0].SubscriptionID == nil {
			return nil, fmt.Errorf("invoice %s has no subscription", invs[0].ID)
		}
		u.invoice, u.sub = invs[0].ID, *invs[0].SubscriptionID
		seed.users = append(seed.users, u)
	}
	if _, err := db.UserByEmail(ctx, seed.staff); err != nil {
		if _, err := web.CreateStaff(ctx, db, svc.Clock, seed.staff, "Load Staff", web.RoleSupport, loadPassword); err != nil {
			return nil, err
		}
	}
	return seed, nil
}
