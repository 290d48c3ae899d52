package commerce

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds the portal's user use cases: sign-up, emailed one-time
// links (confirmation, sign-in, password reset), sessions, staff accounts
// and the audit entries of the edge (failed sign-ins, refused routes).
// Pages check and parse the input, hash passwords and write the words of
// the emails; the state changes happen here, each in one transaction with
// its audit entry.

// TokenTTL is how long each kind of one-time link stays valid.
var TokenTTL = map[string]time.Duration{
	"confirm": 72 * time.Hour,
	"signin":  24 * time.Hour,
	"reset":   2 * time.Hour,
}

// SessionTTL is how long a browser session lasts.
const SessionTTL = 14 * 24 * time.Hour

// Mail is the subject and body of an email a use case sends.
type Mail struct {
	Subject, Body string
}

// LinkMail writes the email that carries a one-time secret (the secret is
// in the link; only its hash is stored).
type LinkMail func(secret string) Mail

// newSecret returns a random URL-safe secret and the hash stored for it.
func newSecret() (secret, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret)
}

// mail queues m to the address to, in tx.
func (s *Service) mail(tx *store.Tx, kind, to string, m Mail) error {
	return s.queueEmail(tx, &fulfill.Email{Kind: kind, To: to, Subject: m.Subject, Body: m.Body})
}

// sendLink creates a one-time token of purpose for u and emails its link, in tx.
func (s *Service) sendLink(tx *store.Tx, u *store.User, purpose string, mail LinkMail) error {
	secret, hash := newSecret()
	now := s.now()
	if err := tx.InsertToken(hash, u.ID, purpose, now, now.Add(TokenTTL[purpose])); err != nil {
		return err
	}
	return s.mail(tx, "auth."+purpose, u.Email, mail(secret))
}

// SignUpInput is a new portal account. PasswordHash is already hashed.
type SignUpInput struct {
	Email, Name, PasswordHash string
	// Confirm writes the confirmation email; nil sends none (the address's
	// mails are throttled).
	Confirm LinkMail
	// Exists is the email sent instead when the address has an account;
	// it is sent only when Confirm is set.
	Exists Mail
}

// SignUp creates an unconfirmed customer account and emails its
// confirmation link, in one transaction. A taken address, confirmed or
// not, keeps its account as it is: this sign-up's password is attached to
// nothing, and the address gets the Exists email instead (the caller
// answers the same in both cases).
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (*store.User, error) {
	u := &store.User{ID: fulfill.NewID("usr"), Email: in.Email, Name: in.Name, PasswordHash: in.PasswordHash,
		Role: "customer", CreatedAt: s.now()}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertUser(u); err != nil {
			return err
		}
		if in.Confirm == nil {
			return nil
		}
		return s.sendLink(tx, u, "confirm", in.Confirm)
	})
	switch {
	case fulfill.ErrorCode(err) == fulfill.EConflict && in.Confirm == nil:
		err = nil
	case fulfill.ErrorCode(err) == fulfill.EConflict:
		err = s.DB.InTx(ctx, func(tx *store.Tx) error { return s.mail(tx, "auth.exists", u.Email, in.Exists) })
	}
	return u, err
}

// SendLink emails u a one-time link of purpose ("confirm", "signin" or
// "reset").
func (s *Service) SendLink(ctx context.Context, u *store.User, purpose string, mail LinkMail) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return s.sendLink(tx, u, purpose, mail) })
}

// ConfirmEmail spends a confirmation link and returns its user, confirmed.
func (s *Service) ConfirmEmail(ctx context.Context, remote, secret string) (*store.User, error) {
	u, _, err := s.useLink(ctx, remote, "confirm", secret, nil)
	return u, err
}

// UseSignInLink spends a sign-in link and returns its user, and whether a
// password chosen before the address was proven was discarded.
func (s *Service) UseSignInLink(ctx context.Context, remote, secret string) (*store.User, bool, error) {
	return s.useLink(ctx, remote, "signin", secret, nil)
}

// ResetPassword spends a reset link, sets the new password and ends every
// session of the account, in one transaction. hashPassword hashes the new
// password; it is called only once the link proves valid (a bad link
// costs no hashing).
func (s *Service) ResetPassword(ctx context.Context, remote, secret string, hashPassword func() string) (*store.User, error) {
	u, _, err := s.useLink(ctx, remote, "reset", secret, hashPassword)
	return u, err
}

// useLink spends a one-time token and returns its user, and whether a
// password chosen before the address was proven was discarded. A non-nil
// newPassword gives the hash of a new password, which replaces the
// password and ends every session.
//
// Following any emailed link proves the address, and confirms the account.
// A password set before that was set by whoever signed up, who may be a
// stranger who signed up with someone else's address (account
// pre-hijacking). Only the confirmation link of the sign-up keeps it: the
// sign-up alone gives an unconfirmed account a password (a second sign-up
// attaches none), so that link's holder proves that the mailbox the
// sign-up named is theirs. A sign-in or reset link proves the mailbox, not
// the sign-up: the earlier password is discarded and every session of the
// account ends.
func (s *Service) useLink(ctx context.Context, remote, purpose, secret string, newPassword func() string) (*store.User, bool, error) {
	var u *store.User
	dropped := false
	now := s.now()
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		dropped = false
		id, err := tx.UseToken(HashSecret(secret), purpose, now)
		if err != nil {
			return fulfill.NotFoundAs(err, fulfill.Errorf(fulfill.EInvalid, "This link has expired or was already used. Ask for a new one."))
		}
		if u, err = tx.UserByID(id); err != nil {
			return err
		}
		if u.ConfirmedAt == nil {
			if purpose != "confirm" && u.PasswordHash != "" {
				if err := tx.SetPassword(u.ID, ""); err != nil {
					return err
				}
				if err := tx.DeleteUserSessions(u.ID); err != nil {
					return err
				}
				if err := s.audit(tx, UserActor(u), "user.password_discarded", "user", u.ID,
					map[string]string{"confirmed_by": purpose}, remote); err != nil {
					return err
				}
				u.PasswordHash, dropped = "", true
			}
			if err := tx.ConfirmUser(u.ID, now); err != nil {
				return err
			}
			u.ConfirmedAt = &now
		}
		if newPassword == nil {
			return nil
		}
		hash := newPassword()
		if err := tx.SetPassword(u.ID, hash); err != nil {
			return err
		}
		u.PasswordHash = hash
		// A new password ends every other session.
		return tx.DeleteUserSessions(u.ID)
	})
	return u, dropped, err
}

// UserActor names a portal user in version histories and the audit log.
func UserActor(u *store.User) Actor {
	switch {
	case u == nil:
		return "anonymous"
	case u.Role != "customer":
		return Actor("staff:" + u.Email)
	}
	return Actor("user:" + u.Email)
}

// StartSession signs u in with a brand-new session (the previous one,
// oldIDHash, if any, is deleted: the id changes at every sign-in), audited
// as a sign-in by how. It returns the session's secret, for its cookie.
func (s *Service) StartSession(ctx context.Context, remote string, u *store.User, how, oldIDHash string) (string, *store.Session, error) {
	secret, hash := newSecret()
	now := s.now()
	sess := &store.Session{IDHash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if oldIDHash != "" {
			if err := tx.DeleteSession(oldIDHash); err != nil {
				return err
			}
		}
		if err := tx.InsertSession(sess, remote); err != nil {
			return err
		}
		return s.audit(tx, UserActor(u), "user.sign_in", "user", u.ID, map[string]string{"method": how}, remote)
	})
	if err != nil {
		return "", nil, err
	}
	return secret, sess, nil
}

// EndSession signs a session out.
func (s *Service) EndSession(ctx context.Context, idHash string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteSession(idHash) })
}

// SignInFailed audits a failed password sign-in for the address who (as
// the throttles name it).
func (s *Service) SignInFailed(ctx context.Context, remote, who string) error {
	return s.auditAlone(ctx, "anonymous", remote, "user.sign_in_failed", "email", who, struct{}{})
}

// PermissionDenied audits a route refused to a staff member's role.
func (s *Service) PermissionDenied(ctx context.Context, actor Actor, remote, route string) error {
	return s.auditAlone(ctx, actor, remote, "permission.denied", "route", route, struct{}{})
}

// JobRetried audits a staff member's retry of a failed job (the job queue
// itself, not this service, runs it again).
func (s *Service) JobRetried(ctx context.Context, actor Actor, remote string, jobID int64) error {
	return s.auditAlone(ctx, actor, remote, "job.retry", "job", strconv.FormatInt(jobID, 10), struct{}{})
}

// RetryJob makes a failed job available again and audits it, in one
// transaction, for when no job runner is at hand (with one, the runner
// retries the job and JobRetried audits it).
func (s *Service) RetryJob(ctx context.Context, actor Actor, remote string, jobID int64) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.RetryJob(jobID, s.now()); err != nil {
			return err
		}
		return s.audit(tx, actor, "job.retry", "job", strconv.FormatInt(jobID, 10), struct{}{}, remote)
	})
}

// auditAlone writes one audit entry in a transaction of its own, for what
// is only recorded: a refused sign-in or route, a job retried by the queue.
func (s *Service) auditAlone(ctx context.Context, actor Actor, remote, action, subjectType, subjectID string, detail any) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		return s.audit(tx, actor, action, subjectType, subjectID, detail, remote)
	})
}

// CreateStaff adds a confirmed staff account with role (checked by the
// caller) and a hashed password, audited as "staff.create".
func (s *Service) CreateStaff(ctx context.Context, actor Actor, email, name, role, passwordHash string) (*store.User, error) {
	now := s.now()
	u := &store.User{ID: fulfill.NewID("usr"), Email: email, Name: name, PasswordHash: passwordHash,
		Role: role, ConfirmedAt: &now, CreatedAt: now}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertUser(u); err != nil {
			return err
		}
		return s.audit(tx, actor, "staff.create", "user", u.ID, map[string]string{"email": u.Email, "role": role}, "")
	})
	return u, err
}
