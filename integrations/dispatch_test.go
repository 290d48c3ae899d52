package integrations

import (
	"context"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
)

// Issue 18: a job of events that no endpoint wants, on a server without
// provisioning, is answered by one read of the endpoints: none of its
// events is read, so even an event gone since (purged) costs nothing. Once
// an endpoint is live, every event of the job is read and gets its
// delivery, in order.
func TestEventsThatGoNowhereAreNotRead(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		env := testenv.New(t, url, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		in := &Service{DB: env.DB, Clock: env.Clock, Resolver: &fakeResolver{hosts: map[string]string{"hooks.test": "127.0.0.1"}}}
		if err := in.DispatchEvents(ctx, []string{"evt_gone"}); err != nil {
			t.Fatalf("no endpoint: the job read its events (%v)", err)
		}
		ep, _, err := in.CreateEndpoint(ctx, "test", EndpointInput{URL: "http://hooks.test:9/hooks"})
		if err != nil {
			t.Fatal(err)
		}
		env.Clock.Set(env.Clock.Now().Add(time.Second)) // the events come after the endpoint
		for _, email := range []string{"ann@example.com", "bob@example.com"} {
			if _, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: email, Name: "A", Company: "Acme", Country: "US"}); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := env.DB.Events(ctx, "customer.created", time.Time{}, fulfill.Page{Limit: 10})
		if err != nil || len(evs) != 2 {
			t.Fatalf("events %v: %v", evs, err)
		}
		if err := in.DispatchEvents(ctx, []string{evs[0].ID, evs[1].ID}); err != nil {
			t.Fatal(err)
		}
		ds, err := env.DB.WebhookDeliveries(ctx, ep.ID, fulfill.Page{Limit: 10})
		if err != nil || len(ds) != 2 {
			t.Fatalf("deliveries %v: %v; want one per event", ds, err)
		}
		if err := in.DispatchEvents(ctx, []string{"evt_gone"}); err == nil {
			t.Fatal("with an endpoint live, an unknown event was not looked up")
		}
	})
}
