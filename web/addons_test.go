package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// Issue 13: the portal sells add-ons with the preview first (5 seats of
// duo-pro on the first day of a 10-seat EUR term: 5 × 212.00 = 1,060.00
// plus 19% VAT = 1,261.40, the amount then invoiced), refuses more duo-pro
// seats than the subscription has, and shows the add-on; the console shows
// it on the customer page; the catalog page sets a plan's entitlements.
func TestPortalSellsAddOnsAndConsoleShowsThem(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")

		r := a.get("/subscriptions/"+sub.ID).must(t, 200)
		contains(t, r.body, `href="/subscriptions/`+sub.ID+`/add_ons"`)
		r = a.get("/subscriptions/"+sub.ID+"/add_ons").must(t, 200)
		contains(t, r.body, `<option value="duo-pro"`, "Duo Pro — EUR 212.00 per seat per term")
		r = a.get("/subscriptions/"+sub.ID+"/add_ons?add_on=duo-pro&quantity=11").must(t, 200)
		contains(t, r.body, `id="qty-error"`, "at most the subscription&#39;s 10 seats")
		if strings.Contains(r.body, `action="/subscriptions/`+sub.ID+`/add_ons"`+"\n") || strings.Contains(r.body, "and buy</button>") {
			t.Fatal("a refused preview offers to buy")
		}
		r = a.get("/subscriptions/"+sub.ID+"/add_ons?add_on=duo-pro&quantity=5").must(t, 200)
		contains(t, r.body, "Buy and invoice EUR 1,261.40", `name="quantity" value="5"`)
		if n := len(e.invoices(sub.CustomerID)); n != 1 {
			t.Fatalf("the preview made %d invoices", n)
		}
		a.post("/subscriptions/"+sub.ID+"/add_ons", "add_on", "duo-pro", "quantity", "11").must(t, 422)
		a.post("/subscriptions/"+sub.ID+"/add_ons", "add_on", "duo-pro", "quantity", "5").must(t, 303)
		invs := e.invoices(sub.CustomerID)
		if len(invs) != 2 || invs[0].Total != 126140 || invs[0].Lines[0].Kind != billing.KindAddon || invs[0].Lines[0].Amount != 106000 {
			t.Fatalf("add-on invoice = %+v", invs[0])
		}
		r = a.get("/subscriptions/"+sub.ID).must(t, 200)
		contains(t, r.body, `<dt>Duo Pro</dt><dd class="addon-qty">5 <span class="muted small">seats</span>`)

		// Another customer's subscription is a 404, preview or purchase.
		b := e.signUp("b@example.com")
		b.get("/subscriptions/"+sub.ID+"/add_ons?add_on=duo-pro&quantity=6").must(t, 404)
		b.post("/subscriptions/"+sub.ID+"/add_ons", "add_on", "duo-pro", "quantity", "6").must(t, 404)

		admin := e.staff("admin@vendor.example", web.RoleAdmin)
		r = admin.get("/admin/customers/"+sub.CustomerID).must(t, 200)
		contains(t, r.body, "Add-ons: Duo Pro × 5")

		r = admin.get("/admin/catalog").must(t, 200)
		contains(t, r.body, `name="entitlements"`, "Duo Pro", "per seat per term")
		admin.post("/admin/catalog", "code", "sm-premium", "price_EUR", "324.00", "entitlements", `{"sso": yes}`).must(t, 422)
		admin.post("/admin/catalog", "code", "sm-premium", "price_EUR", "324.00", "entitlements", `{"sso": true, "max_projects": 100}`).must(t, 303)
		plans, err := e.db.Plans(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range plans {
			if p.Code == "sm-premium" && (p.Version != 2 || p.Entitlements.String() != `{"max_projects":100,"sso":true}`) {
				t.Fatalf("plan %s v%d entitlements %s", p.Code, p.Version, p.Entitlements)
			}
		}
		r = admin.get("/admin/catalog").must(t, 200)
		contains(t, r.body, `<code class="entitlements">{&#34;max_projects&#34;:100,&#34;sso&#34;:true}</code>`)
	})
}
