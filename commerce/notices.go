package commerce

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/store"
)

// Notices before a term ends (issue 12): a renewal notice before every
// automatic renewal, at RenewalNoticeDays before the term ends, and a
// trial-ending notice at TrialNoticeDays. Each is due work of the day (see
// dueWork) and is recorded in billing_notices, keyed by subscription, term
// end and kind, in the transaction that queues its mail: a restart, a
// second billing run or a job retry never sends it twice.

// DefaultRenewalNoticeDays are the days before the term ends that a
// renewal notice goes out when Service.RenewalNoticeDays is unset: 30
// (within California's 15–45 days for a yearly term) and 7.
var DefaultRenewalNoticeDays = []int{30, 7}

// TrialNoticeDays are the days before a trial ends that its notice goes out.
var TrialNoticeDays = []int{7, 1}

// Notice kinds, as billing mail kinds.
const (
	MailRenewalNotice = "renewal.notice"
	MailTrialEnding   = "trial.ending"
)

// NoticeArgs is the job that sends one notice: Days before the term of
// SubscriptionID ending on TermEnd.
type NoticeArgs struct {
	SubscriptionID string `json:"subscription_id" river:"unique"`
	TermEnd        string `json:"term_end" river:"unique"`
	Notice         string `json:"notice" river:"unique"` // MailRenewalNotice or MailTrialEnding
	Days           int    `json:"days" river:"unique"`
}

// Kind names the job.
func (NoticeArgs) Kind() string { return "subscription.notice" }

// InsertOpts makes it unique per subscription, term end, kind and days.
func (NoticeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

func (a NoticeArgs) recordKind() string { return fmt.Sprintf("%s:%d", a.Notice, a.Days) }

func (s *Service) renewalNoticeDays() []int {
	if len(s.RenewalNoticeDays) > 0 {
		return s.RenewalNoticeDays
	}
	return DefaultRenewalNoticeDays
}

// ParseNoticeDays reads a comma-separated list of days before the term
// ends ("30,7"), each between 1 and 365, as --renewal-notice-days gives it.
func ParseNoticeDays(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		var d int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &d); err != nil || d < 1 || d > 365 {
			return nil, fmt.Errorf("renewal notice days %q: each must be a whole number of days from 1 to 365", v)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// noticeWindow is the notice a subscription is owed on day: of the days
// that apply to its term, the smallest whose date has come (a notice
// missed while the server was down goes out late, once, not with the next
// one). A notice more than half the term before its end does not apply: a
// monthly term gets the 7-day notice, not the 30-day one.
func noticeWindow(sub *fulfill.Subscription, days []int, day fulfill.Date) (int, bool) {
	termDays := int(sub.EndsOn.Time().Sub(sub.StartsOn.Time()).Hours()+12) / 24
	best := 0
	for _, d := range days {
		if 2*d > termDays || day.Before(sub.EndsOn.AddDays(-d)) {
			continue
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best, best > 0
}

// dueNotices lists the notices owed on day and not yet sent.
func (s *Service) dueNotices(ctx context.Context, day fulfill.Date) ([]NoticeArgs, error) {
	horizon := slices.Max(append(slices.Clone(s.renewalNoticeDays()), TrialNoticeDays...))
	subs, err := s.DB.NoticeCandidates(ctx, day, day.AddDays(horizon))
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	sent, err := s.DB.NoticesSent(ctx, day, day.AddDays(horizon))
	if err != nil {
		return nil, err
	}
	var due []NoticeArgs
	for _, sub := range subs {
		kind, days := MailRenewalNotice, s.renewalNoticeDays()
		if sub.Trial {
			kind, days = MailTrialEnding, TrialNoticeDays
		}
		d, ok := noticeWindow(sub, days, day)
		if !ok {
			continue
		}
		a := NoticeArgs{SubscriptionID: sub.ID, TermEnd: sub.EndsOn.String(), Notice: kind, Days: d}
		if !sent[sub.ID+"/"+a.TermEnd+"/"+a.recordKind()] {
			due = append(due, a)
		}
	}
	return due, nil
}

// SendNotice records one notice and queues its mail, in one transaction;
// a notice on record already, or one whose subscription no longer ends
// on that date (renewed, cancelled, expired), is left alone.
func (s *Service) SendNotice(ctx context.Context, a NoticeArgs) error {
	end, err := fulfill.ParseDate(a.TermEnd)
	if err != nil {
		return err
	}
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(a.SubscriptionID)
		if err != nil {
			return err
		}
		if sub.EndsOn != end || sub.State != fulfill.StateActive || (a.Notice == MailRenewalNotice && (!sub.AutoRenew || sub.Trial)) {
			return nil
		}
		fresh, err := tx.RecordNotice(sub.ID, a.TermEnd, a.recordKind(), s.now())
		if err != nil || !fresh {
			return err
		}
		cust, err := tx.Customer(sub.CustomerID)
		if err != nil {
			return err
		}
		if a.Notice == MailTrialEnding {
			return s.mailTrialEnding(tx, cust, sub, a.Days)
		}
		return s.mailRenewalNotice(tx, cust, sub, a.Days)
	})
}

// RenewalQuote is what an automatic renewal would charge if it ran today:
// the seats it renews with and why, and its invoice at today's prices and
// tax, computed as renew computes it, stored nowhere.
type RenewalQuote struct {
	Seats     int64
	Why       string
	Invoice   *fulfill.Invoice
	Credit    int64 // account credit the renewal would use
	ChargedTo string
	PlanName  string // the plan it renews on
}

// QuoteRenewal prices a subscription's next automatic renewal at today's
// catalog price, seat usage and tax, storing nothing.
func (s *Service) QuoteRenewal(ctx context.Context, id string) (*RenewalQuote, error) {
	var q *RenewalQuote
	err := s.DB.ReadTx(ctx, func(tx *store.Tx) error {
		sub, err := tx.Subscription(id)
		if err != nil {
			return err
		}
		cust, err := tx.Customer(sub.CustomerID)
		if err != nil {
			return err
		}
		q, err = s.quoteRenewal(tx, cust, sub)
		return err
	})
	return q, err
}

// quoteRenewal prices an automatic renewal with renew's own pricing
// (priceRenewal); TestRenewalNoticesOverSMTP checks its total
// against what the renewal then charges.
func (s *Service) quoteRenewal(tx *store.Tx, cust *fulfill.Customer, sub *fulfill.Subscription) (*RenewalQuote, error) {
	usage, err := tx.SeatUsage(sub.ID, sub.StartsOn, sub.EndsOn)
	if err != nil {
		return nil, err
	}
	// Priced as the renewal will be: scheduled changes, contract price,
	// coupon terms left and add-ons included.
	pr, err := s.priceRenewal(tx, sub, nil, true)
	if err != nil {
		return nil, err
	}
	seats, lines, start, end := pr.seats, pr.lines, pr.start, pr.end
	why := fmt.Sprintf("the %s of the current term", plural(sub.Seats, "seat"))
	switch {
	case seats > sub.Seats && seats == usage.BillableUsers:
		why = fmt.Sprintf("raised from %d to the %s last reported: seats never renew below the users in use",
			sub.Seats, plural(usage.BillableUsers, "billable user"))
	case seats != sub.Seats:
		why = fmt.Sprintf("the %s scheduled for this renewal", plural(seats, "seat"))
	}
	if pr.plan.Code != sub.Plan {
		why += fmt.Sprintf(", on %s as scheduled", pr.plan.Name)
	}
	inv, _, err := s.buildInvoice(tx.Context(), cust, &sub.ID, lines, start, end, sub.PaymentMethod)
	if err != nil {
		return nil, err
	}
	q := &RenewalQuote{Seats: seats, Why: why, Invoice: inv, ChargedTo: sub.PaymentMethod, PlanName: pr.plan.Name}
	if sub.PaymentMethod != PayByInvoice {
		q.Credit = min(cust.Credit, max(inv.Total, 0))
	}
	return q, nil
}

// portalLink is a link to the portal's page for a subscription, from the
// configured public URL only.
func (s *Service) portalLink(path string) string {
	return strings.TrimRight(s.PublicURL, "/") + path
}

func (s *Service) mailRenewalNotice(tx *store.Tx, cust *fulfill.Customer, sub *fulfill.Subscription, days int) error {
	q, err := s.quoteRenewal(tx, cust, sub)
	if err != nil {
		return err
	}
	inv := q.Invoice
	how := "It will be charged to the card on file, " + CardLabel(q.ChargedTo) + " (" + q.ChargedTo + ")."
	if q.ChargedTo == PayByInvoice {
		how = fmt.Sprintf("It will be invoiced, due %s.", plural(int64(cust.TermsDays), "day")+" after issue")
		if cust.TermsDays == 0 {
			how = "It will be invoiced, due on issue."
		}
	}
	amount := fmt.Sprintf("%s (%s before tax, %s tax)", billing.FormatAmount(inv.Total, inv.Currency),
		billing.FormatAmount(inv.Subtotal, inv.Currency), billing.FormatAmount(inv.Tax, inv.Currency))
	if q.Credit > 0 {
		amount += fmt.Sprintf("; your account credit of %s is applied first, so %s is charged",
			billing.FormatAmount(q.Credit, inv.Currency), billing.FormatAmount(inv.Total-q.Credit, inv.Currency))
	}
	subPath := "/subscriptions/" + url.PathEscape(sub.ID)
	text := fmt.Sprintf(`Hello %s,

Your subscription %s (%s) renews automatically on %s, in %s.
%s

  Seats:           %d (%s)
  Expected amount: %s, at today's prices and tax
  Payment:         %s
  New term:        %s to %s

Before %s you can
  change the seats:           %s
  change what renews:         %s
  turn automatic renewal off: %s

— %s
`, or(cust.BillingName, cust.Name), sub.ID, q.PlanName, sub.EndsOn, plural(int64(days), "day"),
		RenewalSentence(&RenewalPreview{RenewsOn: inv.PeriodStart, Seats: q.Seats, PlanName: q.PlanName, Total: inv.Total, Currency: inv.Currency}),
		q.Seats, q.Why, amount, how, inv.PeriodStart, inv.PeriodEnd, sub.EndsOn, s.portalLink(subPath+"/seats"),
		s.portalLink(subPath+"/renewal"), s.portalLink(subPath), or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: MailRenewalNotice,
		Subject: fmt.Sprintf("Your %s subscription renews on %s", q.PlanName, sub.EndsOn.Time().Format("2 Jan 2006")), Body: text})
}

func (s *Service) mailTrialEnding(tx *store.Tx, cust *fulfill.Customer, sub *fulfill.Subscription, days int) error {
	text := fmt.Sprintf(`Hello %s,

Your trial of %s (%s) ends on %s, in %s. After that its license stops working.

To keep it, buy a subscription in the portal:
  %s

— %s
`, or(cust.BillingName, cust.Name), sub.Plan, sub.ID, sub.EndsOn, plural(int64(days), "day"), s.portalLink("/buy"),
		or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: MailTrialEnding, Subject: fmt.Sprintf("Your trial ends on %s", sub.EndsOn), Body: text})
}
