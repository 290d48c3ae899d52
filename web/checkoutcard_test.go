package web_test

import (
	"context"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// TestCheckoutCardSavedAsDefaultAndNamed: the card a purchase is paid with
// is saved on the new billing account as its default card, once, and the
// subscription page names it where it says when the subscription renews.
func TestCheckoutCardSavedAsDefaultAndNamed(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		a := e.signUp("card@example.com")
		sub := a.buy("sm-premium", "10")
		s := e.sub(sub)
		pms, err := e.db.PaymentMethods(context.Background(), s.CustomerID)
		if err != nil || len(pms) != 1 || pms[0].ProviderID != "pm_card_visa" || !pms[0].Default || pms[0].Label != "Visa •••• 4242" {
			t.Fatalf("saved cards %+v %v", pms, err)
		}
		r := a.get("/subscriptions/"+sub).must(t, 200)
		contains(t, r.body, `<p id="renews">Renews on 1 Mar 2027 on Visa •••• 4242.</p>`)
		contains(t, r.body, `<dd id="term">1 Mar 2026 – 28 Feb 2027</dd>`)
		r = a.get("/account/"+s.CustomerID).must(t, 200)
		contains(t, r.body, `Visa •••• 4242 <span class="badge">Default</span>`)
		// An invoice purchase saves no card.
		inv := a.buyByInvoice("sm-premium", "3")
		if pms, _ := e.db.PaymentMethods(context.Background(), inv.CustomerID); len(pms) != 0 {
			t.Fatalf("cards saved by an invoice purchase: %+v", pms)
		}
		contains(t, a.get("/subscriptions/"+inv.ID).must(t, 200).body, `<p id="renews">Renews on 1 Mar 2027 by invoice.</p>`)
	})
}
