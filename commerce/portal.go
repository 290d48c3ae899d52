package commerce

import (
	"context"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds the portal's billing-account use cases: invitations to
// manage an account, saved cards, EULA acceptances, the link between a
// user and the account they buy for, and staff impersonation.

// Invitations to manage a billing account.
const (
	InvitationTTL         = 7 * 24 * time.Hour
	MaxPendingInvitations = 15
)

// Invite invites email to manage a billing account: it stores the
// invitation (at most MaxPendingInvitations pending per account) and
// emails its link, in one transaction with its audit entry.
func (s *Service) Invite(ctx context.Context, actor Actor, remote, customerID, email, invitedBy string, mail LinkMail) error {
	now := s.now()
	secret, hash := newSecret()
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		n, err := tx.PendingInvitationCount(customerID, now)
		if err != nil {
			return err
		}
		if n >= MaxPendingInvitations {
			return fulfill.FieldError(fulfill.EOutOfRange, "invite_email",
				"This account already has %d pending invitations, the most it can have: wait until some are accepted or expire.", n)
		}
		in := &store.Invitation{ID: fulfill.NewID("ivt"), CustomerID: customerID, Email: email, TokenHash: hash, InvitedBy: invitedBy,
			CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
		if err := tx.InsertInvitation(in); err != nil {
			return err
		}
		if err := s.audit(tx, actor, "account.invite", "customer", customerID, map[string]string{"email": email}, remote); err != nil {
			return err
		}
		return s.mail(tx, "account.invitation", email, mail(secret))
	})
}

// AcceptInvitation spends an invitation for u, who must be the invited
// address, and lets u manage its billing account.
func (s *Service) AcceptInvitation(ctx context.Context, remote string, u *store.User, secret string) (*store.Invitation, error) {
	now := s.now()
	var in *store.Invitation
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if in, err = tx.AcceptInvitation(HashSecret(secret), u.ID, now); err != nil {
			return fulfill.NotFoundAs(err, fulfill.Errorf(fulfill.EInvalid, "This invitation has expired or was already used. Ask for a new one."))
		}
		if !strings.EqualFold(in.Email, u.Email) {
			return fulfill.Errorf(fulfill.EForbidden, "This invitation is for %s: sign in with that address to accept it.", in.Email)
		}
		linked, err := tx.IsLinked(u.ID, in.CustomerID)
		if err != nil {
			return err
		}
		if !linked {
			if err := tx.LinkCustomer(u.ID, in.CustomerID, now); err != nil {
				return err
			}
		}
		return s.audit(tx, UserActor(u), "account.invitation_accepted", "customer", in.CustomerID,
			map[string]string{"invitation": in.ID}, remote)
	})
	return in, err
}

// LinkUser lets a user manage a billing account (the one they just
// created by buying).
func (s *Service) LinkUser(ctx context.Context, userID, customerID string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return tx.LinkCustomer(userID, customerID, s.now()) })
}

// AcceptEULA records that a user accepted a EULA version for a billing
// account.
func (s *Service) AcceptEULA(ctx context.Context, remote, customerID, userID, version string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		return tx.InsertEULAAcceptance(&store.EULAAcceptance{ID: fulfill.NewID("eula"), CustomerID: customerID,
			UserID: userID, Version: version, AcceptedAt: s.now(), RemoteAddr: remote})
	})
}

// AddPaymentMethod saves a card of a billing account, audited. A card
// already saved is a conflict.
func (s *Service) AddPaymentMethod(ctx context.Context, actor Actor, remote string, pm *store.PaymentMethod) error {
	pm.ID, pm.CreatedAt = fulfill.NewID("pm"), s.now()
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertPaymentMethod(pm); err != nil {
			return err
		}
		if err := s.queueDescribeCard(tx, pm.ID); err != nil {
			return err
		}
		return s.audit(tx, actor, "payment_method.add", "customer", pm.CustomerID, map[string]string{"payment_method": pm.ID}, remote)
	})
}

// SetDefaultPaymentMethod makes a saved card the account's default, audited.
func (s *Service) SetDefaultPaymentMethod(ctx context.Context, actor Actor, remote, customerID, paymentMethodID string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetDefaultPaymentMethod(customerID, paymentMethodID); err != nil {
			return err
		}
		return s.audit(tx, actor, "payment_method.default", "customer", customerID, map[string]string{"payment_method": paymentMethodID}, remote)
	})
}

// RemovePaymentMethod deletes a saved card, audited.
func (s *Service) RemovePaymentMethod(ctx context.Context, actor Actor, remote, customerID, paymentMethodID string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeletePaymentMethod(customerID, paymentMethodID); err != nil {
			return err
		}
		return s.audit(tx, actor, "payment_method.remove", "customer", customerID, map[string]string{"payment_method": paymentMethodID}, remote)
	})
}

// Impersonate makes a staff session act as a customer, in mode
// ("read_only" or "read_write"), audited.
func (s *Service) Impersonate(ctx context.Context, actor Actor, remote, sessionHash, customerID, mode string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetActingAs(sessionHash, customerID); err != nil {
			return err
		}
		return s.audit(tx, actor, "customer.impersonate", "customer", customerID, map[string]string{"mode": mode}, remote)
	})
}

// StopImpersonation ends a staff session's acting as a customer and
// returns that customer's id (empty if it acted as no one, which is not
// audited).
func (s *Service) StopImpersonation(ctx context.Context, actor Actor, remote, sessionHash string) (string, error) {
	var id string
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if id, err = tx.ActingAsTx(sessionHash); err != nil {
			return err
		}
		if err := tx.SetActingAs(sessionHash, ""); err != nil {
			return err
		}
		if id == "" {
			return nil
		}
		return s.audit(tx, actor, "customer.impersonate_end", "customer", id, struct{}{}, remote)
	})
	return id, err
}
