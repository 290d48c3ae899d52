package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
)

// This file holds what a billing account's managers change from the
// portal: the account's details, invitations of further managers, saved
// payment methods, and the customer a staff member acts as.

// UpdateCustomer saves a customer's editable details: company, address,
// tax id and contacts. Currency, country-derived prices, credit and credit
// hold are not changed here.
func (t *Tx) UpdateCustomer(c *fulfill.Customer) error {
	t.forgetCustomer(c.ID)
	return t.exec(`UPDATE customers SET name = $1, company = $2, address = $3, city = $4, postal_code = $5, country = $6,
		tax_id = $7, contact_name = $8, contact_email = $9, billing_name = $10, billing_email = $11,
		vat_check = $12, vat_checked_at = $13, vat_check_ref = $14 WHERE id = $15`,
		c.Name, c.Company, c.Address, c.City, c.PostalCode, c.Country, c.TaxID, c.ContactName, c.ContactEmail,
		c.BillingName, c.BillingEmail, c.VATCheck, utcPtr(c.VATCheckedAt), c.VATCheckRef, c.ID)
}

// ---- invitations ----

// Invitation asks someone, by email, to help manage a billing account.
type Invitation struct {
	ID, CustomerID, Email, TokenHash, InvitedBy string
	CreatedAt, ExpiresAt                        time.Time
	AcceptedAt                                  *time.Time
	AcceptedBy                                  string
}

const invitationCols = `id, customer_id, email, token_hash, invited_by, created_at, expires_at, accepted_at, accepted_by`

func scanInvitation(s interface{ Scan(...any) error }) (*Invitation, error) {
	var in Invitation
	var acc sql.NullTime
	var by sql.NullString
	if err := s.Scan(&in.ID, &in.CustomerID, &in.Email, &in.TokenHash, &in.InvitedBy, &in.CreatedAt, &in.ExpiresAt, &acc, &by); err != nil {
		return nil, err
	}
	if acc.Valid {
		in.AcceptedAt = &acc.Time
	}
	in.AcceptedBy = by.String
	return &in, nil
}

// InsertInvitation stores an invitation.
func (t *Tx) InsertInvitation(in *Invitation) error {
	return mapErr(t.exec(`INSERT INTO account_invitations (`+invitationCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)`,
		in.ID, in.CustomerID, strings.ToLower(in.Email), in.TokenHash, in.InvitedBy, in.CreatedAt.UTC(), in.ExpiresAt.UTC()), "Invitation")
}

// PendingInvitationCount counts a billing account's unaccepted, unexpired
// invitations, locking the account first so two concurrent invitations
// cannot both pass a limit.
func (t *Tx) PendingInvitationCount(customerID string, now time.Time) (int, error) {
	if _, err := t.Customer(customerID); err != nil {
		return 0, err
	}
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM account_invitations
		WHERE customer_id = $1 AND accepted_at IS NULL AND expires_at > $2`, customerID, now.UTC()).Scan(&n)
	return n, err
}

// Invitations lists a billing account's invitations, newest first.
func (db *DB) Invitations(ctx context.Context, customerID string) ([]*Invitation, error) {
	return queryAll(ctx, db.Read, scanInvitation, `SELECT `+invitationCols+` FROM account_invitations WHERE customer_id = $1
		ORDER BY created_at DESC, id DESC LIMIT 100`, customerID)
}

// InvitationByToken finds a live (unaccepted, unexpired) invitation by the
// hash of its token; anything else is not found.
func (db *DB) InvitationByToken(ctx context.Context, hash string, now time.Time) (*Invitation, error) {
	in, err := scanInvitation(db.Read.QueryRowContext(ctx, `SELECT `+invitationCols+` FROM account_invitations
		WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2`, hash, now.UTC()))
	return in, mapErr(err, "Invitation")
}

// AcceptInvitation spends a live invitation for a user and returns it.
func (t *Tx) AcceptInvitation(hash, userID string, now time.Time) (*Invitation, error) {
	in, err := scanInvitation(t.tx.QueryRowContext(t.ctx, `UPDATE account_invitations SET accepted_at = $1, accepted_by = $2
		WHERE token_hash = $3 AND accepted_at IS NULL AND expires_at > $1 RETURNING `+invitationCols, now.UTC(), userID, hash))
	return in, mapErr(err, "Invitation")
}

// IsLinked reports whether a user already manages a billing account.
func (t *Tx) IsLinked(userID, customerID string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM web_user_customers WHERE user_id = $1 AND customer_id = $2`,
		userID, customerID).Scan(&n)
	return n > 0, err
}

// ---- payment methods ----

// PaymentMethod is a card saved on a billing account.
type PaymentMethod struct {
	ID, CustomerID, ProviderID, Label string
	Default                           bool
	CreatedAt                         time.Time
	// Card is what the provider reported of the card (zero until it did:
	// see commerce/cardexpiry.go).
	Card fulfill.CardDetails
}

const pmCols = `id, customer_id, provider_id, label, is_default, created_at, brand, last4, exp_month, exp_year`

func scanPaymentMethod(row interface{ Scan(...any) error }) (*PaymentMethod, error) {
	var pm PaymentMethod
	err := row.Scan(&pm.ID, &pm.CustomerID, &pm.ProviderID, &pm.Label, &pm.Default, &pm.CreatedAt,
		&pm.Card.Brand, &pm.Card.Last4, &pm.Card.ExpMonth, &pm.Card.ExpYear)
	return &pm, err
}

// InsertPaymentMethod saves a card; the same card twice is a conflict.
func (t *Tx) InsertPaymentMethod(pm *PaymentMethod) error {
	return mapErr(t.exec(`INSERT INTO payment_methods (`+pmCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		pm.ID, pm.CustomerID, pm.ProviderID, pm.Label, pm.Default, pm.CreatedAt.UTC(),
		pm.Card.Brand, pm.Card.Last4, pm.Card.ExpMonth, pm.Card.ExpYear), "Payment method")
}

// SetDefaultPaymentMethod makes one saved card the account's default.
func (t *Tx) SetDefaultPaymentMethod(customerID, id string) error {
	return t.exec(`UPDATE payment_methods SET is_default = (id = $1) WHERE customer_id = $2`, id, customerID)
}

// DeletePaymentMethod removes a saved card.
func (t *Tx) DeletePaymentMethod(customerID, id string) error {
	return t.exec(`DELETE FROM payment_methods WHERE customer_id = $1 AND id = $2`, customerID, id)
}

// PaymentMethods lists a billing account's saved cards, the default first.
func (db *DB) PaymentMethods(ctx context.Context, customerID string) ([]*PaymentMethod, error) {
	return paymentMethods(ctx, db.Read, customerID)
}

// PaymentMethods lists a billing account's saved cards, the default first,
// in a transaction.
func (t *Tx) PaymentMethods(customerID string) ([]*PaymentMethod, error) {
	return paymentMethods(t.ctx, t.tx, customerID)
}

func paymentMethods(ctx context.Context, q querier, customerID string) ([]*PaymentMethod, error) {
	return queryAll(ctx, q, scanPaymentMethod,
		`SELECT `+pmCols+` FROM payment_methods WHERE customer_id = $1 ORDER BY is_default DESC, created_at, id`, customerID)
}

// ---- impersonation ----

// SetActingAs makes a staff session act as a customer (an empty id stops).
func (db *DB) SetActingAs(ctx context.Context, idHash, customerID string) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE web_sessions SET acting_as = $1 WHERE id_hash = $2`, customerID, idHash)
	return err
}

// SetActingAs makes a staff session act as a customer (an empty id stops),
// in a transaction.
func (t *Tx) SetActingAs(idHash, customerID string) error {
	return t.exec(`UPDATE web_sessions SET acting_as = $1 WHERE id_hash = $2`, customerID, idHash)
}

// ActingAsTx returns the customer a session acts as, or an empty id, read
// in the transaction.
func (t *Tx) ActingAsTx(idHash string) (string, error) {
	var id string
	err := t.tx.QueryRowContext(t.ctx, `SELECT acting_as FROM web_sessions WHERE id_hash = $1`, idHash).Scan(&id)
	return id, mapErr(err, "Session")
}

// ActingAs returns the customer a session acts as, or an empty id.
func (db *DB) ActingAs(ctx context.Context, idHash string) (string, error) {
	var id string
	err := db.Read.QueryRowContext(ctx, `SELECT acting_as FROM web_sessions WHERE id_hash = $1`, idHash).Scan(&id)
	return id, mapErr(err, "Session")
}

// UpdatePaymentTerms saves a customer's payment terms, PO number and extra
// billing recipients.
func (t *Tx) UpdatePaymentTerms(c *fulfill.Customer) error {
	t.forgetCustomer(c.ID)
	return t.exec(`UPDATE customers SET terms_days = $1, po_number = $2, po_required = $3, billing_cc = $4 WHERE id = $5`,
		c.TermsDays, c.PONumber, c.PORequired, c.BillingCC, c.ID)
}
