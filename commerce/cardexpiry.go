package commerce

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// The card-expiring notice (issue 12). When a card is saved (in the
// portal or by a purchase) its transaction queues DescribeCardArgs; the
// job asks the payment provider, outside any transaction, for the card's
// brand, last 4 digits and expiry, and records them on the saved card.
// Each day's due work (dueWork) then finds the default cards whose expiry
// month ends within CardExpiryNoticeDays and queues CardExpiryArgs; its
// transaction records the notice in billing_notices (subject: the saved
// card, cause: its expiry month "2026-12", kind "card_expiring") with the
// mail, so a restart, a second run or a job retry never sends it twice. A
// card that is no longer the default (replaced by another), or whose
// expiry changed, gets none.

// CardExpiryNoticeDays is how many days before a card's expiry month ends
// its notice goes out: for a card expiring 12/2026, whose month ends with
// 31 December (valid through that day), on 2 December.
const CardExpiryNoticeDays = 30

// MailCardExpiring is the billing mail kind of the card-expiring notice.
const MailCardExpiring = "card.expiring"

// noticeCardExpiring is its kind in billing_notices.
const noticeCardExpiring = "card_expiring"

// DescribeCardArgs is the job that asks the payment provider for a saved
// card's details.
type DescribeCardArgs struct {
	PaymentMethodID string `json:"payment_method_id"`
}

// Kind names the job.
func (DescribeCardArgs) Kind() string { return "payment_method.describe" }

// InsertOpts puts it on the billing queue. It is queued once, by the
// transaction that saves the card (a new id), and is idempotent, so it
// needs no uniqueness (and is inserted with the transaction's other jobs).
func (DescribeCardArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 10}
}

// CardExpiryArgs is the job that sends one card-expiring notice: for the
// saved card PaymentMethodID expiring in Expiry ("2026-12").
type CardExpiryArgs struct {
	PaymentMethodID string `json:"payment_method_id" river:"unique"`
	Expiry          string `json:"expiry" river:"unique"`
}

// Kind names the job.
func (CardExpiryArgs) Kind() string { return "payment_method.expiry_notice" }

// InsertOpts makes it unique per card and expiry.
func (CardExpiryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "billing", MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// queueDescribeCard queues, in the transaction that saves a card, the job
// that asks the provider about it; a provider that cannot describe cards
// gets no job.
func (s *Service) queueDescribeCard(tx *store.Tx, paymentMethodID string) error {
	if _, ok := s.Payments.(fulfill.CardDescriber); !ok {
		return nil
	}
	return tx.Enqueue(DescribeCardArgs{PaymentMethodID: paymentMethodID}, nil)
}

var last4RE = regexp.MustCompile(`^[0-9]{4}$`)

// validCard reports whether the provider's answer is a card with a usable
// expiry; anything else is not recorded.
func validCard(c fulfill.CardDetails) bool {
	return last4RE.MatchString(c.Last4) && c.ExpMonth >= 1 && c.ExpMonth <= 12 && c.ExpYear >= 2000 && c.ExpYear <= 9999 &&
		fulfill.TextLen(c.Brand) <= 40 && fulfill.ValidText(c.Brand)
}

// DescribeCard asks the payment provider, outside any transaction, for a
// saved card's brand, last 4 digits and expiry, then records them in one
// transaction with its audit entry. A card removed meanwhile, a provider
// that cannot describe cards and a method that is not a card are left
// alone; a failure to reach the provider is an error, for the job to retry.
func (s *Service) DescribeCard(ctx context.Context, paymentMethodID string) error {
	d, ok := s.Payments.(fulfill.CardDescriber)
	if !ok {
		return nil
	}
	var pm *store.PaymentMethod
	err := s.DB.ReadTx(ctx, func(tx *store.Tx) error {
		var err error
		pm, err = tx.PaymentMethod(paymentMethodID)
		return err
	})
	if fulfill.ErrorCode(err) == fulfill.ENotFound {
		return nil
	}
	if err != nil {
		return err
	}
	card, err := d.DescribeCard(ctx, pm.ProviderID)
	var fe *fulfill.Error
	if errors.As(err, &fe) {
		return nil // the provider does not know the card: nothing to record
	}
	if err != nil {
		return fmt.Errorf("describe card %s: %w", pm.ID, err)
	}
	if !validCard(card) {
		return nil
	}
	label := pm.Label
	if label == "" || label == CardLabel("") {
		label = CardName(card)
	}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetCardDetails(pm.ID, label, card); err != nil {
			return err
		}
		return s.audit(tx, System, "payment_method.describe", "customer", pm.CustomerID, map[string]any{"payment_method": pm.ID,
			"brand": card.Brand, "last4": card.Last4, "expiry": expiryCause(card)}, "")
	})
	return err
}

// brandNames are the card brands as a buyer reads them.
var brandNames = map[string]string{
	"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
	"diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires",
	"eftpos_au": "eftpos", "interac": "Interac",
}

// BrandName names a card brand as the provider spells it ("visa" → "Visa").
func BrandName(brand string) string {
	if n, ok := brandNames[brand]; ok {
		return n
	}
	if brand == "" {
		return "Card"
	}
	return strings.ToUpper(brand[:1]) + brand[1:]
}

// CardName names a described card: "Visa •••• 4242".
func CardName(c fulfill.CardDetails) string {
	return BrandName(c.Brand) + " •••• " + c.Last4
}

// expiryCause is a card's expiry month as a notice's cause: "2026-12".
func expiryCause(c fulfill.CardDetails) string {
	return fmt.Sprintf("%04d-%02d", c.ExpYear, c.ExpMonth)
}

// expiryEnd is the first day after a card's expiry month: a card that
// expires 12/2026 works through 31 December 2026.
func expiryEnd(c fulfill.CardDetails) fulfill.Date {
	return fulfill.DateOf(time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC))
}

// monthIndex is a date's month as year×12+month, as ExpiringDefaultCards
// compares expiries.
func monthIndex(d fulfill.Date) int { return d.Time().Year()*12 + int(d.Time().Month()) }

// cardNoticeDue reports whether a card's expiring notice is owed on day:
// from CardExpiryNoticeDays before its expiry month ends until it ends.
func cardNoticeDue(c fulfill.CardDetails, day fulfill.Date) bool {
	end := expiryEnd(c)
	return !day.Before(end.AddDays(-CardExpiryNoticeDays)) && day.Before(end)
}

// dueCardNotices lists the card-expiring notices owed on day and not yet
// sent: default cards whose expiry month ends within CardExpiryNoticeDays
// and has not ended (a notice missed while the server was down goes out
// late, once, while the card still works).
func (s *Service) dueCardNotices(ctx context.Context, day fulfill.Date) ([]CardExpiryArgs, error) {
	cards, err := s.DB.ExpiringDefaultCards(ctx, monthIndex(day), monthIndex(day.AddDays(CardExpiryNoticeDays)))
	if err != nil || len(cards) == 0 {
		return nil, err
	}
	first := day.Time()
	sent, err := s.DB.NoticesOfKind(ctx, noticeCardExpiring, fmt.Sprintf("%04d-%02d", first.Year(), first.Month()))
	if err != nil {
		return nil, err
	}
	var due []CardExpiryArgs
	for _, pm := range cards {
		if !cardNoticeDue(pm.Card, day) {
			continue
		}
		if cause := expiryCause(pm.Card); !sent[pm.ID+"/"+cause] {
			due = append(due, CardExpiryArgs{PaymentMethodID: pm.ID, Expiry: cause})
		}
	}
	return due, nil
}

// SendCardExpiryNotice records one card-expiring notice and queues its
// mail, in one transaction. A card removed, no longer the account's
// default, or now reported with another expiry is left alone, as is a
// notice on record already.
func (s *Service) SendCardExpiryNotice(ctx context.Context, a CardExpiryArgs) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		pm, err := tx.PaymentMethod(a.PaymentMethodID)
		if fulfill.ErrorCode(err) == fulfill.ENotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if !pm.Default || pm.Card.ExpYear == 0 || expiryCause(pm.Card) != a.Expiry {
			return nil
		}
		fresh, err := tx.RecordNotice(pm.ID, a.Expiry, noticeCardExpiring, s.now())
		if err != nil || !fresh {
			return err
		}
		cust, err := tx.Customer(pm.CustomerID)
		if err != nil {
			return err
		}
		return s.mailCardExpiring(tx, cust, pm)
	})
}

func (s *Service) mailCardExpiring(tx *store.Tx, cust *fulfill.Customer, pm *store.PaymentMethod) error {
	c := pm.Card
	month := time.Date(c.ExpYear, time.Month(c.ExpMonth), 1, 0, 0, 0, 0, time.UTC).Format("January 2006")
	text := fmt.Sprintf(`Hello %s,

The default card of your billing account %s, which renewals and open
invoices are charged to, expires at the end of %s.

  Card:    %s, ending %s
  Expires: %02d/%d

To keep your subscriptions renewing without interruption, add a new card
and make it the default before then:
  %s

— %s
`, or(cust.BillingName, cust.Name), or(cust.Company, cust.Name), month, BrandName(c.Brand), c.Last4, c.ExpMonth, c.ExpYear,
		s.portalLink("/account/"+url.PathEscape(cust.ID)+"#cards"), or(s.Seller.Company, "Fulfill"))
	return s.queueBillingMail(tx, cust, &fulfill.Email{Kind: MailCardExpiring,
		Subject: fmt.Sprintf("Your %s card ending %s expires at the end of %s", BrandName(c.Brand), c.Last4, month), Body: text})
}
