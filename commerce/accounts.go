package commerce

import (
	"context"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// CustomerUpdate is the editable part of a billing account. The currency
// stays: invoices and prices of an account use one currency for good.
type CustomerUpdate struct {
	Name, Company, Address, City, PostalCode, Country, TaxID string
	ContactName, ContactEmail, BillingName, BillingEmail     string
}

// UpdateCustomer changes a billing account's company, address, tax id and
// contacts, in one transaction with its audit entry and a
// "customer.updated" event. Licenses already issued keep the contact they
// name: a later license carries the new one.
func (s *Service) UpdateCustomer(ctx context.Context, actor Actor, remote, customerID string, in CustomerUpdate) (*fulfill.Customer, error) {
	trim := func(p *string) { *p = strings.TrimSpace(*p) }
	for _, p := range []*string{&in.Name, &in.Company, &in.Address, &in.City, &in.PostalCode, &in.Country, &in.TaxID,
		&in.ContactName, &in.ContactEmail, &in.BillingName, &in.BillingEmail} {
		trim(p)
	}
	in.Country = strings.ToUpper(in.Country)
	for _, f := range []struct{ field, v string }{{"name", in.Name}, {"company", in.Company},
		{"subscription_contact_name", in.ContactName}, {"subscription_contact_email", in.ContactEmail},
		{"billing_contact_name", in.BillingName}, {"billing_contact_email", in.BillingEmail}} {
		if f.v == "" {
			return nil, fulfill.FieldError(fulfill.ERequired, f.field, "This field is required.")
		}
	}
	for field, v := range map[string]string{"name": in.Name, "company": in.Company, "address": in.Address, "city": in.City,
		"postal_code": in.PostalCode, "tax_id": in.TaxID, "subscription_contact_name": in.ContactName, "billing_contact_name": in.BillingName} {
		if fulfill.TextLen(v) > 200 {
			return nil, fulfill.FieldError(fulfill.EOutOfRange, field, "At most 200 characters.")
		}
	}
	var err error
	if in.Country, in.TaxID, err = checkCountryTaxID(in.Country, in.TaxID); err != nil {
		return nil, err
	}
	for field, v := range map[string]string{"subscription_contact_email": in.ContactEmail, "billing_contact_email": in.BillingEmail} {
		if !emailRE.MatchString(v) || fulfill.TextLen(v) > 254 {
			return nil, fulfill.FieldError(fulfill.EInvalid, field, "%q is not an email address.", v)
		}
	}
	// A changed tax id is checked online (VIES) before the transaction.
	cur, err := s.DB.Customer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	var check vatCheck
	if cur.TaxID != in.TaxID || cur.Country != in.Country {
		if check, err = s.checkVIES(ctx, in.Country, in.TaxID); err != nil {
			return nil, err
		}
	}
	var c *fulfill.Customer
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = tx.Customer(customerID); err != nil {
			return err
		}
		before := *c
		if c.TaxID != in.TaxID || c.Country != in.Country {
			check.apply(c) // the id's own check; none when VIES is off
		}
		c.Name, c.Company, c.Address, c.City, c.PostalCode, c.Country, c.TaxID = in.Name, in.Company, in.Address, in.City,
			in.PostalCode, in.Country, in.TaxID
		c.ContactName, c.ContactEmail, c.BillingName, c.BillingEmail = in.ContactName, in.ContactEmail, in.BillingName, in.BillingEmail
		if err := tx.UpdateCustomer(c); err != nil {
			return err
		}
		changed := map[string][2]string{}
		for _, f := range []struct{ name, old, new string }{
			{"name", before.Name, c.Name}, {"company", before.Company, c.Company}, {"address", before.Address, c.Address},
			{"city", before.City, c.City}, {"postal_code", before.PostalCode, c.PostalCode}, {"country", before.Country, c.Country},
			{"tax_id", before.TaxID, c.TaxID}, {"subscription_contact_name", before.ContactName, c.ContactName},
			{"subscription_contact_email", before.ContactEmail, c.ContactEmail}, {"billing_contact_name", before.BillingName, c.BillingName},
			{"billing_contact_email", before.BillingEmail, c.BillingEmail}, {"vat_check", before.VATCheck, c.VATCheck},
		} {
			if f.old != f.new {
				changed[f.name] = [2]string{f.old, f.new}
			}
		}
		if err := s.audit(tx, actor, "customer.update", "customer", c.ID, changed, remote); err != nil {
			return err
		}
		return s.emit(tx, "customer.updated", c.ID, c.ID, c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
