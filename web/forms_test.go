package web_test

import (
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// TestFormsReportEveryFieldAndKeepWhatWasEntered: an empty sign-up names
// all three fields at once; the account form's banner names its field; the
// review step refuses the company the account form refuses; a bad catalog
// price shows the catalog again with the value kept; the console search
// matches inside words; the customer page links its invoice numbers.
func TestFormsReportEveryFieldAndKeepWhatWasEntered(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		r := e.client().post("/signup", "name", "", "email", "", "password", "").must(t, 422)
		contains(t, r.body, "Check 3 fields: Your name, Work email, Password.", `id="name-err"`, `id="email-err"`, `id="password-err"`)

		a := e.signUp("forms@example.com")
		sub := e.sub(a.buy("sm-premium", "10"))
		r = a.post("/account/"+sub.CustomerID, "company", "Example GmbH", "name", "Ann", "country", "DE",
			"contact_name", "Ann", "contact_email", "ann@example.com", "billing_name", "", "billing_email", "ann@example.com").must(t, 422)
		contains(t, r.body, "Billing contact&#39;s name: This field is required.")

		long := strings.Repeat("x", 201)
		r = a.get("/buy/review?plan=sm-premium&seats=3&country=DE&pay=invoice&account=new&company="+long).must(t, 422)
		contains(t, r.body, "Company or organisation: at most 200 characters.")
		a.get("/buy/review?plan=sm-premium&seats=3&country=DE&pay=invoice&account=new&company="+long[:200]).must(t, 200)

		ops := e.staff("forms-ops@vendor.example", web.RoleAdmin)
		r = ops.post("/admin/catalog", "code", "sm-premium", "price_USD", "3x8", "price_EUR", "300.00").must(t, 422)
		contains(t, r.body, "<h1>Catalog</h1>", `id="catalog-error"`, "Enter the USD price like 348.00.",
			`name="price_USD" inputmode="decimal" value="3x8" aria-invalid="true"`, `name="price_EUR" inputmode="decimal" value="300.00"`)

		// One match: the search opens it.
		if loc := ops.get("/admin/customers?q=mple+gm").must(t, 303).header.Get("Location"); loc != "/admin/customers/"+sub.CustomerID {
			t.Fatalf("search inside a word went to %q", loc)
		}
		r = ops.get("/admin/customers/"+sub.CustomerID).must(t, 200)
		inv := e.invoices(sub.CustomerID)[0]
		contains(t, r.body, `<a href="/admin/invoices/`+inv.ID+`">`+inv.Number+`</a>`, `<a href="/admin/invoices/`+inv.ID+`/pdf" download`)
		if pdf := ops.get("/admin/invoices/"+inv.ID+"/pdf").must(t, 200); !strings.HasPrefix(pdf.body, "%PDF-") {
			t.Fatalf("invoice PDF %.20q", pdf.body)
		}
		a.get("/admin/invoices/"+inv.ID+"/pdf").must(t, 404)
	})
}
