package web

import (
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/store"
)

// One-time links: how long each kind stays valid.
var tokenTTL = map[string]time.Duration{
	"confirm": 72 * time.Hour,
	"signin":  24 * time.Hour,
	"reset":   2 * time.Hour,
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// badCredentials is the one answer for an unknown email and a wrong
// password alike.
var badCredentials = fulfill.FieldError(fulfill.EUnauthorized, "password", "That email and password do not match an account.")

func (s *Server) now() time.Time { return s.clock.Now().UTC() }

// queueEmail puts a message in the outbox and enqueues its sending in tx.
func queueEmail(tx *store.Tx, now time.Time, kind, to, subject, body string) error {
	e := &fulfill.Email{ID: fulfill.NewID("em"), Kind: kind, To: to, Subject: subject, Body: body, Status: "pending", CreatedAt: now}
	if err := tx.InsertEmail(e); err != nil {
		return err
	}
	return tx.Enqueue(commerce.SendEmailArgs{EmailID: e.ID}, nil)
}

// sendLink creates a one-time token for a user and emails its link, in tx.
func (s *Server) sendLink(tx *store.Tx, r *http.Request, u *store.User, purpose string) error {
	secret, hash := newSecret()
	now := s.now()
	if err := tx.InsertToken(hash, u.ID, purpose, now, now.Add(tokenTTL[purpose])); err != nil {
		return err
	}
	base := s.baseURL(r)
	var subject, body string
	switch purpose {
	case "confirm":
		subject = "Confirm your email address"
		body = fmt.Sprintf("Hello,\n\nConfirm your email address to finish creating your %s account:\n\n  %s/confirm?token=%s\n\nThe link works once, for 3 days. If you did not sign up, ignore this message.\n", s.cfg.Vendor, base, secret)
	case "signin":
		subject = "Your sign-in link"
		body = fmt.Sprintf("Hello,\n\nUse this link to sign in to %s:\n\n  %s/signin/link?token=%s\n\nThe link works once, for 24 hours. If you did not ask for it, ignore this message.\n", s.cfg.Vendor, base, secret)
	case "reset":
		subject = "Reset your password"
		body = fmt.Sprintf("Hello,\n\nUse this link to choose a new password:\n\n  %s/password/reset?token=%s\n\nThe link works once, for 2 hours. If you did not ask for it, ignore this message; your password stays as it is.\n", base, secret)
	}
	return queueEmail(tx, now, "auth."+purpose, u.Email, subject, body)
}

// startSession signs a user in with a brand-new session id (the previous
// one, if any, is deleted: the id changes at every sign-in).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, how string) error {
	if old := state(r).sess; old != nil {
		if err := s.db.DeleteSession(r.Context(), old.IDHash); err != nil {
			return err
		}
	}
	secret, hash := newSecret()
	now := s.now()
	sess := &store.Session{IDHash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(sessionTTL)}
	if err := s.db.InsertSession(r.Context(), sess, clientIP(r)); err != nil {
		return err
	}
	if err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(&fulfill.AuditEntry{ID: fulfill.NewID("aud"), At: now, Actor: actorOf(u), Action: "user.sign_in",
			SubjectType: "user", SubjectID: u.ID, Detail: fmt.Sprintf(`{"method":%q}`, how), RemoteAddr: clientIP(r)})
	}); err != nil {
		return err
	}
	setSessionCookie(w, r, secret, int(sessionTTL/time.Second))
	state(r).sess, state(r).user = sess, u
	state(r).cookie = secret // seals this request's flash (sealFlash)
	return nil
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next, def string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.HasPrefix(next, "/\\") {
		return next
	}
	return def
}

func home(u *store.User) string {
	if isStaff(u) {
		return "/admin"
	}
	return "/subscriptions"
}

// ---- sign up and confirm ----

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, 200, "signup", "Create your account", nil)
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	email := strings.TrimSpace(r.PostForm.Get("email"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	password := r.PostForm.Get("password")
	fail := func(field, msg string) error {
		return s.render(w, r, http.StatusUnprocessableEntity, "signup", "Create your account", formError{msg, field})
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !emailRE.MatchString(email) || len(email) > 254 {
		return fail("email", "Enter an email address like name@example.com.")
	}
	if name == "" || len(name) > 200 {
		return fail("name", "Enter your name (at most 200 characters).")
	}
	if len(password) < MinPasswordLength || len(password) > 1000 {
		return fail("password", fmt.Sprintf("Choose a password of at least %d characters.", MinPasswordLength))
	}
	now := s.now()
	u := &store.User{ID: fulfill.NewID("usr"), Email: strings.ToLower(email), Name: name, PasswordHash: HashPassword(password),
		Role: "customer", CreatedAt: now}
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := tx.InsertUser(u); err != nil {
			return err
		}
		return s.sendLink(tx, r, u, "confirm")
	})
	if fulfill.ErrorCode(err) == fulfill.EConflict {
		// Same page as a new account: the form does not tell who has one.
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			return queueEmail(tx, now, "auth.exists", u.Email, "You already have an account",
				fmt.Sprintf("Hello,\n\nSomeone (probably you) tried to sign up with this address, which already has a %s account.\nSign in at %s/signin, or reset your password at %s/password/forgot.\n", s.cfg.Vendor, s.baseURL(r), s.baseURL(r)))
		})
	}
	if err != nil {
		return err
	}
	return s.render(w, r, 200, "checkemail", "Check your email", map[string]string{"Email": u.Email, "What": "confirm"})
}

// tokenPage shows the button that spends a one-time link: following a link
// (GET) never changes anything, so mail scanners cannot spend it.
func (s *Server) tokenPage(purpose, title string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.URL.Query().Get("token")
		ok, err := s.db.TokenValid(r.Context(), hashSecret(token), purpose, s.now())
		if err != nil {
			return err
		}
		return s.render(w, r, 200, "token", title, map[string]any{"Token": token, "Valid": ok, "Purpose": purpose})
	}
}

// useToken spends a one-time token and returns its user.
func (s *Server) useToken(r *http.Request, purpose string, then func(tx *store.Tx, u *store.User) error) (*store.User, error) {
	var u *store.User
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		id, err := tx.UseToken(hashSecret(r.PostForm.Get("token")), purpose, s.now())
		if err != nil {
			return fulfill.Errorf(fulfill.EInvalid, "This link has expired or was already used. Ask for a new one.")
		}
		if u, err = tx.UserByID(id); err != nil {
			return err
		}
		// Following any emailed link proves the address.
		if err := tx.ConfirmUser(u.ID, s.now()); err != nil {
			return err
		}
		if then != nil {
			return then(tx, u)
		}
		return nil
	})
	return u, err
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	u, err := s.useToken(r, "confirm", nil)
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u, "confirm"); err != nil {
		return err
	}
	return s.flashRedirect(w, r, "/buy", "Your email address is confirmed. Welcome!")
}

// ---- sign in ----

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) error {
	if u := state(r).user; u != nil {
		http.Redirect(w, r, home(u), http.StatusSeeOther)
		return nil
	}
	r.ParseForm()
	return s.render(w, r, 200, "signin", "Sign in", nil)
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	password := r.PostForm.Get("password")
	now := s.now()
	keys := []string{"email:" + email, "ip:" + clientIP(r)}
	tmpl := "signin"
	if strings.HasPrefix(r.URL.Path, "/admin") {
		tmpl = "adminsignin"
	}
	if blocked, until := s.throttle.blocked(now, keys...); blocked {
		w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(now).Seconds())+1))
		return s.render(w, r, http.StatusTooManyRequests, tmpl, "Sign in", formError{
			fmt.Sprintf("Too many failed attempts. Try again in %d minutes, or sign in with an email link.", int(until.Sub(now).Minutes())+1), "password"})
	}
	u, err := s.db.UserByEmail(r.Context(), email)
	if err != nil && fulfill.ErrorCode(err) != fulfill.ENotFound {
		return err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	// CheckPassword hashes even for an unknown account, so both cost the same.
	ok := CheckPassword(hash, password) && u != nil
	if ok && tmpl == "adminsignin" && !isStaff(u) {
		ok = false
	}
	if !ok {
		s.throttle.fail(now, keys...)
		s.db.InTx(r.Context(), func(tx *store.Tx) error {
			return tx.Audit(&fulfill.AuditEntry{ID: fulfill.NewID("aud"), At: now, Actor: "anonymous", Action: "user.sign_in_failed",
				SubjectType: "email", SubjectID: email, Detail: "{}", RemoteAddr: clientIP(r)})
		})
		return s.render(w, r, http.StatusUnauthorized, tmpl, "Sign in", formError{badCredentials.Message, "password"})
	}
	s.throttle.reset("email:" + email)
	if u.ConfirmedAt == nil {
		if err := s.db.InTx(r.Context(), func(tx *store.Tx) error { return s.sendLink(tx, r, u, "confirm") }); err != nil {
			return err
		}
		return s.render(w, r, http.StatusForbidden, tmpl, "Sign in", formError{
			"Confirm your email address first: we have just sent you a new confirmation link.", "email"})
	}
	if err := s.startSession(w, r, u, "password"); err != nil {
		return err
	}
	http.Redirect(w, r, safeNext(r.PostForm.Get("next"), home(u)), http.StatusSeeOther)
	return nil
}

// requestLink emails a one-time sign-in link. The answer is the same
// whether or not the address has an account.
func (s *Server) requestLink(purpose string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.ParseForm()
		email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
		now := s.now()
		keys := []string{"link:" + email, "linkip:" + clientIP(r)}
		if blocked, _ := s.throttle.blocked(now, keys...); !blocked {
			s.throttle.fail(now, keys...) // each request counts: at most 5 links per window
			u, err := s.db.UserByEmail(r.Context(), email)
			if err == nil {
				if err := s.db.InTx(r.Context(), func(tx *store.Tx) error { return s.sendLink(tx, r, u, purpose) }); err != nil {
					return err
				}
			} else if fulfill.ErrorCode(err) != fulfill.ENotFound {
				return err
			}
		}
		return s.render(w, r, 200, "checkemail", "Check your email", map[string]string{"Email": email, "What": purpose})
	}
}

func (s *Server) useSigninLink(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	u, err := s.useToken(r, "signin", nil)
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u, "email_link"); err != nil {
		return err
	}
	http.Redirect(w, r, home(u), http.StatusSeeOther)
	return nil
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	if sess := state(r).sess; sess != nil {
		if err := s.db.DeleteSession(r.Context(), sess.IDHash); err != nil {
			return err
		}
	}
	setSessionCookie(w, r, "", -1)
	to := "/signin"
	if strings.HasPrefix(r.URL.Path, "/admin") {
		to = "/admin/signin"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// ---- password reset ----

func (s *Server) forgotForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, 200, "forgot", "Reset your password", nil)
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	password := r.PostForm.Get("password")
	if len(password) < MinPasswordLength || len(password) > 1000 {
		return s.render(w, r, http.StatusUnprocessableEntity, "token", "Choose a new password", map[string]any{
			"Token": r.PostForm.Get("token"), "Valid": true, "Purpose": "reset",
			"Error": fmt.Sprintf("Choose a password of at least %d characters.", MinPasswordLength)})
	}
	u, err := s.useToken(r, "reset", func(tx *store.Tx, u *store.User) error {
		if err := tx.SetPassword(u.ID, HashPassword(password)); err != nil {
			return err
		}
		// A new password ends every other session.
		return tx.DeleteUserSessions(u.ID)
	})
	if err != nil {
		return err
	}
	state(r).sess = nil
	if err := s.startSession(w, r, u, "password_reset"); err != nil {
		return err
	}
	return s.flashRedirect(w, r, home(u), "Your password is changed.")
}
