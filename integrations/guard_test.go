package integrations

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestRefusedIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip      string
		refused bool
	}{
		{"169.254.169.254", true},
		{"169.254.0.1", true},
		{"169.254.255.255", true},
		{"::ffff:169.254.169.254", true},
		{"64:ff9b::169.254.169.254", true},
		{"fd00:ec2::254", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf::1", true},
		{"100.100.100.200", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"10.0.0.1", false},
		{"192.168.1.10", false},
		{"169.253.255.255", false},
		{"169.255.0.1", false},
		{"fec0::1", false},
		{"fd00:ec2::253", false},
		{"93.184.216.34", false},
		{"2606:2800:220:1:248:1893:25c8:1946", false},
	} {
		if got := RefusedIP(netip.MustParseAddr(tc.ip)); got != tc.refused {
			t.Errorf("RefusedIP(%s) = %v, want %v", tc.ip, got, tc.refused)
		}
	}
}

// fakeResolver answers from a table that a test may change between
// lookups, as a DNS server under an attacker's control would.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string]string
}

func (f *fakeResolver) set(host, ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = ip
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ip, ok := f.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr(ip)}, nil
}

// The dialer refuses a refused address before connecting, whether it is
// written in the URL or comes from DNS; loopback still works.
func TestGuardedClientRefusesMetadataBeforeConnecting(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := &fakeResolver{hosts: map[string]string{"local.test": "127.0.0.1", "meta.test": "169.254.169.254", "meta6.test": "fd00:ec2::254"}}
	c := guardedClient(res)
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]:" + port + "/",
		"http://[fd00:ec2::254]/", "http://meta.test:" + port + "/", "http://meta6.test/", "http://[fe80::1]:" + port + "/"} {
		resp, err := c.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("POST %s: err = %v, want ErrRefusedAddress", u, err)
		}
	}
	resp, err := c.Post("http://local.test:"+port+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	resp.Body.Close()
	if n := hits.Load(); n != 1 {
		t.Fatalf("the receiver got %d requests, want 1 (the loopback one)", n)
	}

	// The socket-level check refuses whatever resolved the name.
	d := &net.Dialer{Timeout: time.Second, Control: refuseControl}
	if _, err := d.Dial("tcp", "169.254.169.254:80"); !errors.Is(err, ErrRefusedAddress) {
		t.Fatalf("dial 169.254.169.254: err = %v, want ErrRefusedAddress", err)
	}
}

// A host that resolves to loopback at registration and to the metadata
// address at delivery (DNS rebinding) fails delivery without a request;
// the log keeps no body of any answer.
func TestDeliveryRefusesRebindAndKeepsNoBody(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		env := testenv.New(t, url, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		const marker = "ACCOUNT-ann@example.com-XYZZY"
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if hits.Add(1) == 1 {
				http.Error(w, marker, http.StatusInternalServerError)
				return
			}
			w.Write([]byte(marker))
		}))
		t.Cleanup(srv.Close)
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		res := &fakeResolver{hosts: map[string]string{"hooks.rebind.test": "127.0.0.1", "meta.test": "169.254.169.254"}}
		in := &Service{DB: env.DB, Clock: env.Clock, Resolver: res}

		if _, _, err := in.CreateEndpoint(ctx, "test", EndpointInput{URL: "http://meta.test/"}); fulfill.ErrorCode(err) != fulfill.EInvalid ||
			!strings.Contains(fulfill.ErrorMessage(err), "cloud-metadata") {
			t.Fatalf("a host resolving to 169.254.169.254 registered: err = %v", err)
		}
		ep, _, err := in.CreateEndpoint(ctx, "test", EndpointInput{URL: "http://hooks.rebind.test:" + port + "/hooks"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "ann@example.com", Name: "Ann", Company: "Acme", Country: "US"}); err != nil {
			t.Fatal(err)
		}
		evs, err := env.DB.Events(ctx, "", time.Time{}, fulfill.Page{Limit: 10})
		if err != nil || len(evs) == 0 {
			t.Fatalf("events %v: %v", evs, err)
		}
		if err := in.Dispatch(ctx, evs[0].ID); err != nil {
			t.Fatal(err)
		}
		ds, err := env.DB.WebhookDeliveries(ctx, ep.ID, fulfill.Page{Limit: 10})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries %v: %v", ds, err)
		}
		id := ds[0].ID
		attempt := func() *store.WebhookAttempt {
			t.Helper()
			err := in.Deliver(ctx, id, Attempt{Delay: time.Minute})
			d, derr := env.DB.WebhookDelivery(ctx, id)
			if derr != nil {
				t.Fatal(derr)
			}
			a := d.Log[len(d.Log)-1]
			if (err != nil) != (a.Error != "") {
				t.Fatalf("Deliver = %v but the log says %+v", err, a)
			}
			return &a
		}

		res.set("hooks.rebind.test", "169.254.169.254")
		if a := attempt(); a.StatusCode != nil || !strings.Contains(a.Error, "cloud-metadata") || hits.Load() != 0 {
			t.Fatalf("rebound delivery: %+v, %d requests reached a server", a, hits.Load())
		}
		res.set("hooks.rebind.test", "127.0.0.1")
		if a := attempt(); a.StatusCode == nil || *a.StatusCode != 500 || a.Error != "HTTP 500" {
			t.Fatalf("second attempt: %+v", a)
		}
		if a := attempt(); a.StatusCode == nil || *a.StatusCode != 200 || a.Error != "" || hits.Load() != 2 {
			t.Fatalf("third attempt: %+v, %d requests", a, hits.Load())
		}
		assertNoColumnHolds(t, env.DB, marker, "webhook_attempts", "webhook_deliveries")
	})
}

// assertNoColumnHolds fails if any column of any row of the tables holds s.
func assertNoColumnHolds(t *testing.T, db *store.DB, s string, tables ...string) {
	t.Helper()
	for _, table := range tables {
		rows, err := db.Read.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			n++
			vals, err := dbtest.ScanValues(rows)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var text string
				switch v := v.(type) {
				case string:
					text = v
				case []byte:
					text = string(v)
				}
				if strings.Contains(text, s) {
					t.Errorf("%s.%s holds %q", table, cols[i], s)
				}
			}
		}
		rows.Close()
		if n == 0 {
			t.Errorf("%s has no rows to search", table)
		}
	}
}
