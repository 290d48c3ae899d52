package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/web"
)

// oddText holds what Go quoting (%q) and JSON escape differently: a quote, a
// backslash, U+2028, non-ASCII, and the control characters BEL and DEL,
// which %q writes as \a and \x7f, escapes JSON does not have.
const oddText = "o\"b\\r\u2028\u00e9\a\x7f"

// auditDetail returns the detail of the newest audit entry of action on a
// subject, decoded as JSON.
func auditDetail(t *testing.T, e *env, subjectType, subjectID, action string) map[string]any {
	t.Helper()
	entries, err := e.db.AuditLog(context.Background(), subjectType, subjectID, fulfill.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range entries {
		if a.Action != action {
			continue
		}
		var detail map[string]any
		if err := json.Unmarshal([]byte(a.Detail), &detail); err != nil {
			t.Fatalf("%s: the audit detail %s is not JSON: %v", action, a.Detail, err)
		}
		return detail
	}
	t.Fatalf("no %s audit entry for %s %s", action, subjectType, subjectID)
	return nil
}

func TestAuditDetailIsValidJSONForQuotesBackslashesAndControlCharacters(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, url string) {
		t.Parallel()
		e := newEnv(t, url)
		ctx := context.Background()

		// A staff account created from the command line.
		staffEmail := "staff" + oddText + "@example.com"
		u, err := web.CreateStaff(ctx, e.db, e.clock, staffEmail, "Staff", web.RoleSupport, password)
		if err != nil {
			t.Fatal(err)
		}
		if got := auditDetail(t, e, "user", u.ID, "staff.create")["email"]; got != strings.ToLower(staffEmail) {
			t.Fatalf("staff.create detail email %q, want %q", got, strings.ToLower(staffEmail))
		}

		// An invitation sent from the portal.
		c := e.signUp("ann@example.com")
		sub, err := e.db.Subscription(ctx, c.buy("sm-premium", "1"))
		if err != nil {
			t.Fatal(err)
		}
		invitee := "colleague" + oddText + "@example.com"
		c.post("/account/"+sub.CustomerID+"/invitations", "email", invitee).must(t, 303)
		if got := auditDetail(t, e, "customer", sub.CustomerID, "account.invite")["email"]; got != strings.ToLower(invitee) {
			t.Fatalf("account.invite detail email %q, want %q", got, strings.ToLower(invitee))
		}
	})
}
