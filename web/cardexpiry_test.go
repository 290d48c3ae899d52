package web_test

import (
	"context"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// A card saved in the portal is described by the payment provider (the
// job's work, done here at once): the account's card list, where the
// card-expiring mail links to, shows its expiry.
func TestPortalCardListShowsExpiry(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, dburl string) {
		e := newEnv(t, dburl)
		e.svc.Payments.(interface{ SetCardExpiry(string, int, int) }).SetCardExpiry("pm_card_mastercard", 3, 2027)
		a := e.signUp("a@example.com")
		sub := a.buyByInvoice("sm-premium", "10")
		acct := "/account/" + sub.CustomerID
		a.post(acct+"/payment_methods", "card", "pm_card_mastercard").must(t, 303)
		pms, err := e.db.PaymentMethods(context.Background(), sub.CustomerID)
		if err != nil || len(pms) != 1 {
			t.Fatalf("methods %+v %v", pms, err)
		}
		if err := e.svc.DescribeCard(context.Background(), pms[0].ID); err != nil {
			t.Fatal(err)
		}
		r := a.get(acct).must(t, 200)
		contains(t, r.body, `id="cards"`, `Mastercard •••• 4444 <span class="muted small">expires 03/2027</span>`)
	})
}
