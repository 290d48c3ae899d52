package commerce

import (
	"context"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// This file holds the support requests' use cases: opening a request,
// messages (a customer's reopens a solved request, a staff reply emails
// the requester) and the requester's rating.

// OpenSupportRequestInput is a new support request of a billing account.
// The caller checks that the user may open it for that account and
// subscription.
type OpenSupportRequestInput struct {
	CustomerID, SubscriptionID, UserID string
	Staff                              bool // the first message is a staff member's
	Category, Subject, Body            string
}

// OpenSupportRequest stores a request and its first message, audited.
func (s *Service) OpenSupportRequest(ctx context.Context, actor Actor, remote string, in OpenSupportRequestInput) (*store.SupportRequest, error) {
	now := s.now()
	req := &store.SupportRequest{ID: fulfill.NewID("req"), CustomerID: in.CustomerID, SubscriptionID: in.SubscriptionID,
		UserID: in.UserID, Category: in.Category, Subject: in.Subject, CreatedAt: now}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertSupportRequest(req, &store.SupportMessage{ID: fulfill.NewID("msg"), RequestID: req.ID, UserID: in.UserID,
			Staff: in.Staff, Body: in.Body, CreatedAt: now}); err != nil {
			return err
		}
		return s.audit(tx, actor, "support.open", "customer", in.CustomerID,
			map[string]string{"request": req.ID, "category": in.Category}, remote)
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// SupportMessageInput is a message on a support request.
type SupportMessageInput struct {
	UserID string
	Body   string // may be empty only to solve
	Solve  bool   // the request is solved with this message
	// StaffReply is a staff member's answer from the console: it does not
	// reopen a solved request, and Reply writes the email to the requester.
	StaffReply bool
	Reply      func(requester *store.User, text string) Mail
}

// AddSupportMessage adds a message to a request in one transaction with
// its audit entry: a customer's message reopens a solved, unrated
// request; a staff reply emails the requester.
func (s *Service) AddSupportMessage(ctx context.Context, actor Actor, remote string, req *store.SupportRequest, in SupportMessageInput) error {
	body := strings.TrimSpace(in.Body)
	if body == "" && !in.Solve {
		return fulfill.FieldError(fulfill.ERequired, "body", "Write a message.")
	}
	if fulfill.TextLen(body) > 10000 {
		return fulfill.FieldError(fulfill.EOutOfRange, "body", "At most 10,000 characters.")
	}
	now := s.now()
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.SupportRequestTx(req.ID)
		if err != nil {
			return err
		}
		if body != "" {
			if err := tx.InsertSupportMessage(&store.SupportMessage{ID: fulfill.NewID("msg"), RequestID: req.ID, UserID: in.UserID,
				Staff: in.StaffReply, Body: body, CreatedAt: now}); err != nil {
				return err
			}
		}
		switch {
		case in.Solve && cur.State != "solved":
			if err := tx.SetSupportState(req.ID, "solved", now); err != nil {
				return err
			}
		case !in.StaffReply && cur.State == "solved" && cur.RatedAt == nil:
			if err := tx.SetSupportState(req.ID, "open", now); err != nil {
				return err
			}
		}
		action := "support.reply"
		if in.Solve {
			action = "support.solve"
		}
		if err := s.audit(tx, actor, action, "customer", req.CustomerID, map[string]string{"request": req.ID}, remote); err != nil {
			return err
		}
		if !in.StaffReply || in.Reply == nil {
			return nil
		}
		requester, err := tx.UserByID(req.UserID)
		if err != nil {
			return err
		}
		text := body
		if in.Solve {
			text = strings.TrimSpace(body + "\n\nWe consider this request solved. Tell us how we did: rate the answer on the request's page.")
		}
		return s.mail(tx, "support.reply", requester.Email, in.Reply(requester, text))
	})
}

// RateSupportRequest records the requester's rating of a solved request,
// once, audited.
func (s *Service) RateSupportRequest(ctx context.Context, actor Actor, remote string, req *store.SupportRequest, satisfied bool, comment string) error {
	comment = strings.TrimSpace(comment)
	if fulfill.TextLen(comment) > 2000 {
		return fulfill.FieldError(fulfill.EOutOfRange, "comment", "At most 2,000 characters.")
	}
	now := s.now()
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.SupportRequestTx(req.ID)
		if err != nil {
			return err
		}
		if cur.State != "solved" {
			return fulfill.Errorf(fulfill.EConflict, "You can rate a request once it is solved.")
		}
		if cur.RatedAt != nil {
			return fulfill.Errorf(fulfill.EConflict, "You have already rated this request.")
		}
		if err := tx.RateSupportRequest(req.ID, satisfied, comment, now); err != nil {
			return err
		}
		return s.audit(tx, actor, "support.rate", "customer", req.CustomerID,
			map[string]any{"request": req.ID, "satisfied": satisfied}, remote)
	})
}
