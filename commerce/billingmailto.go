package commerce

import (
	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// Billing mail kinds a vendor can switch off (Service.BillingMailOff).
var BillingMailKinds = []string{"invoice.issued", "payment.receipt", "credit_note.issued", MailRenewalNotice, MailTrialEnding}

// queueBillingMail queues one billing mail to the account's billing contact
// and to each of its extra billing recipients, a row (and job) each, unless
// the vendor switched that kind off.
func (s *Service) queueBillingMail(tx *store.Tx, cust *fulfill.Customer, e *fulfill.Email) error {
	if s.BillingMailOff[e.Kind] {
		return nil
	}
	for _, to := range BillingRecipients(cust) {
		m := *e
		m.To, m.CustomerID = to, &cust.ID
		if err := s.queueEmail(tx, &m); err != nil {
			return err
		}
	}
	return nil
}
