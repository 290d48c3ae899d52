package web

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/store"
)

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// badCredentials is the one answer for an unknown email and a wrong
// password alike.
var badCredentials = fulfill.FieldError(fulfill.EUnauthorized, "password", "That email and password do not match an account.")

func (s *Server) now() time.Time { return s.clock.Now().UTC() }

// linkMail writes the email that carries a one-time link of purpose.
func (s *Server) linkMail(r *http.Request, purpose string) commerce.LinkMail {
	base := s.baseURL(r)
	return func(secret string) commerce.Mail {
		switch purpose {
		case "confirm":
			return commerce.Mail{Subject: "Confirm your email address",
				Body: fmt.Sprintf("Hello,\n\nConfirm your email address to finish creating your %s account:\n\n  %s/confirm?token=%s\n\nThe link works once, for 3 days. If you did not sign up, ignore this message.\n", s.cfg.Vendor, base, secret)}
		case "signin":
			return commerce.Mail{Subject: "Your sign-in link",
				Body: fmt.Sprintf("Hello,\n\nUse this link to sign in to %s:\n\n  %s/signin/link?token=%s\n\nThe link works once, for 24 hours. If you did not ask for it, ignore this message.\n", s.cfg.Vendor, base, secret)}
		case "reset":
			return commerce.Mail{Subject: "Reset your password",
				Body: fmt.Sprintf("Hello,\n\nUse this link to choose a new password:\n\n  %s/password/reset?token=%s\n\nThe link works once, for 2 hours. If you did not ask for it, ignore this message; your password stays as it is.\n", base, secret)}
		}
		return commerce.Mail{}
	}
}

// startSession signs a user in with a brand-new session id (the previous
// one, if any, is deleted: the id changes at every sign-in).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, how string) error {
	old := ""
	if sess := state(r).sess; sess != nil {
		old = sess.IDHash
	}
	secret, sess, err := s.svc.StartSession(r.Context(), clientIP(r), u, how, old)
	if err != nil {
		return err
	}
	setSessionCookie(w, r, secret, int(sessionTTL/time.Second))
	state(r).sess, state(r).user = sess, u
	state(r).cookie = secret // seals this request's flash (sealFlash)
	return nil
}

// safeNext keeps a post-sign-in redirect on this site: next must be a
// path of this site ("/invoices?x=1"), parsed, not prefix-matched. It is
// refused (def is used) if it has a scheme or a host, does not start with
// exactly one "/", or holds a backslash, whitespace or a control character,
// raw or percent-encoded: browsers read "/\\evil", "/\t/evil" and such as
// another host.
func safeNext(next, def string) string {
	if next == "" || len(next) > 2048 || !utf8.ValidString(next) || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return def
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return def
	}
	if strings.HasPrefix(u.Path, "//") || !strings.HasPrefix(u.Path, "/") {
		return def
	}
	for _, part := range []string{next, u.Path, u.RawQuery, u.Fragment} {
		if strings.ContainsFunc(part, func(c rune) bool { return c == '\\' || unicode.IsSpace(c) || unicode.IsControl(c) }) {
			return def
		}
	}
	if q, err := url.QueryUnescape(u.RawQuery); err != nil || strings.ContainsFunc(q, unicode.IsControl) {
		return def
	}
	return next
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
	email := strings.TrimSpace(r.PostForm.Get("email"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	password := r.PostForm.Get("password")
	// Every field is checked, and every error shown at once.
	var errs fieldErrors
	if name == "" || fulfill.TextLen(name) > 200 {
		errs.add("name", "Your name", "Enter your name (at most 200 characters).")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !emailRE.MatchString(email) || fulfill.TextLen(email) > 254 {
		errs.add("email", "Work email", "Enter an email address like name@example.com.")
	}
	if msg := passwordProblem(password); msg != "" {
		errs.add("password", "Password", msg)
	}
	if errs.any() {
		return s.render(w, r, http.StatusUnprocessableEntity, "signup", "Create your account", errs.formError())
	}
	ctx := r.Context()
	lower := strings.ToLower(email)
	wait, err := s.overLimit(ctx, formLimit{"signup:ip:" + clientIP(r), signupsPerIP}, formLimit{"signup:addr:" + lower, signupsPerAddress})
	if err != nil {
		return err
	}
	if wait > 0 {
		mins := retryAfter(w, wait)
		return s.render(w, r, http.StatusTooManyRequests, "signup", "Create your account", formError{
			fmt.Sprintf("Too many sign-ups from your network or for this address. Try again in %s.", plural(mins, "minute")), ""})
	}
	sendMail, err := s.mayMail(ctx, lower)
	if err != nil {
		return err
	}
	// A taken address, confirmed or not, keeps its account as it is: this
	// sign-up's password is attached to nothing. The page is the same as
	// for a new account: the form does not tell who has one.
	in := commerce.SignUpInput{Email: lower, Name: name, PasswordHash: HashPassword(password),
		Exists: commerce.Mail{Subject: "You already have an account",
			Body: fmt.Sprintf("Hello,\n\nSomeone (probably you) tried to sign up with this address, which already has a %s account.\nSign in at %s/signin, or reset your password at %s/password/forgot.\n", s.cfg.Vendor, s.baseURL(r), s.baseURL(r))}}
	if sendMail {
		in.Confirm = s.linkMail(r, "confirm")
	}
	u, err := s.svc.SignUp(ctx, in)
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

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) error {
	u, err := s.svc.ConfirmEmail(r.Context(), clientIP(r), r.PostForm.Get("token"))
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
	return s.render(w, r, 200, "signin", "Sign in", nil)
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	password := r.PostForm.Get("password")
	ip, who := clientIP(r), throttleID(email)
	tmpl := "signin"
	if strings.HasPrefix(r.URL.Path, "/admin") {
		tmpl = "adminsignin"
	}
	select {
	case s.signinSlots <- struct{}{}:
		defer func() { <-s.signinSlots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	wait, err := s.signinWait(ctx, who, ip)
	if err != nil {
		return err
	}
	if wait > 0 {
		mins := retryAfter(w, wait)
		return s.render(w, r, http.StatusTooManyRequests, tmpl, "Sign in", formError{
			fmt.Sprintf("Too many failed attempts. Try again in %s, or sign in with an email link.", plural(mins, "minute")), "password"})
	}
	var u *store.User
	ok := false
	// A password longer than any we accept is wrong without hashing it.
	if len(password) <= maxSigninPasswordBytes {
		// An email that throttleID hashes is no one's address (too long,
		// or bytes no database keeps): it is not looked up.
		if who == email {
			if u, err = s.db.UserByEmail(ctx, email); err != nil && fulfill.ErrorCode(err) != fulfill.ENotFound {
				return err
			}
		}
		hash := ""
		if u != nil {
			hash = u.PasswordHash
		}
		// checkPassword hashes even for an unknown account, so both cost the same.
		ok = checkPassword(hash, password) && u != nil
	}
	if ok && tmpl == "adminsignin" && !isStaff(u) {
		ok = false
	}
	if !ok {
		if err := s.signinFailed(ctx, who, ip); err != nil {
			return err
		}
		if err := s.svc.SignInFailed(ctx, ip, who); err != nil {
			s.log.Error("audit", "err", err)
		}
		return s.render(w, r, http.StatusUnauthorized, tmpl, "Sign in", formError{badCredentials.Message, "password"})
	}
	if err := s.signinSucceeded(ctx, who, ip); err != nil {
		return err
	}
	if u.ConfirmedAt == nil {
		// Only someone who knows the password learns that the account
		// waits for confirmation; the link goes to the address, not to
		// them, and it counts against the address's mails.
		sendMail, err := s.mayMail(ctx, u.Email)
		if err != nil {
			return err
		}
		if sendMail {
			if err := s.svc.SendLink(ctx, u, "confirm", s.linkMail(r, "confirm")); err != nil {
				return err
			}
		}
		return s.render(w, r, http.StatusForbidden, tmpl, "Sign in", formError{
			"Confirm your email address first: we have sent you a confirmation link.", "email"})
	}
	if err := s.startSession(w, r, u, "password"); err != nil {
		return err
	}
	http.Redirect(w, r, safeNext(r.PostForm.Get("next"), home(u)), http.StatusSeeOther)
	return nil
}

// checkPassword is CheckPassword; tests count its calls.
var checkPassword = CheckPassword

// throttleID is an email as throttle keys and the audit log hold it: as
// typed when it could be an address, else a hash (a key stays short and
// holds no bytes a database refuses).
func throttleID(email string) string {
	if len(email) <= 254 && utf8.ValidString(email) && !strings.ContainsRune(email, 0) {
		return email
	}
	return "sha256:" + hashSecret(email)
}

// requestLink emails a one-time link: a sign-in link, a password reset
// link, or again the confirmation link of an account that waits for it
// ("confirm"). The answer is the same whether or not the address has an
// account, or a mail was sent.
func (s *Server) requestLink(purpose string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
		what := purpose
		if purpose == "confirm" {
			what = "resend"
		}
		wait, err := s.overLimit(ctx, formLimit{"links:ip:" + clientIP(r), linksPerIP}, formLimit{"links:addr:" + throttleID(email), linksPerAddress})
		if err != nil {
			return err
		}
		if wait > 0 {
			msg := fmt.Sprintf("Too many requests from your network or for this address. Try again in %s.", plural(retryAfter(w, wait), "minute"))
			switch purpose {
			case "signin":
				return s.render(w, r, http.StatusTooManyRequests, "signin", "Sign in", formError{msg, "email"})
			case "reset":
				return s.render(w, r, http.StatusTooManyRequests, "forgot", "Reset your password", formError{msg, "email"})
			}
			return s.render(w, r, http.StatusTooManyRequests, "checkemail", "Check your email", map[string]string{"Email": email, "What": what, "Error": msg})
		}
		var u *store.User
		err = fulfill.Errorf(fulfill.ENotFound, "no such user")
		if throttleID(email) == email {
			u, err = s.db.UserByEmail(ctx, email)
		}
		switch {
		case fulfill.ErrorCode(err) == fulfill.ENotFound:
		case err != nil:
			return err
		case purpose != "confirm" || (u.ConfirmedAt == nil && u.PasswordHash != ""):
			sendMail, err := s.mayMail(ctx, u.Email)
			if err != nil {
				return err
			}
			if sendMail {
				if err := s.svc.SendLink(ctx, u, purpose, s.linkMail(r, purpose)); err != nil {
					return err
				}
			}
		}
		return s.render(w, r, 200, "checkemail", "Check your email", map[string]string{"Email": email, "What": what})
	}
}

func (s *Server) useSigninLink(w http.ResponseWriter, r *http.Request) error {
	u, dropped, err := s.svc.UseSignInLink(r.Context(), clientIP(r), r.PostForm.Get("token"))
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u, "email_link"); err != nil {
		return err
	}
	if dropped {
		return s.flashRedirect(w, r, home(u), "Your email address is confirmed. The password chosen when this account was created was not kept, because the address was not confirmed yet: choose one with “Forgot your password?” on the sign-in page.")
	}
	http.Redirect(w, r, home(u), http.StatusSeeOther)
	return nil
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	if sess := state(r).sess; sess != nil {
		if err := s.svc.EndSession(r.Context(), sess.IDHash); err != nil {
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
	password := r.PostForm.Get("password")
	if msg := passwordProblem(password); msg != "" {
		return s.render(w, r, http.StatusUnprocessableEntity, "token", "Choose a new password", map[string]any{
			"Token": r.PostForm.Get("token"), "Valid": true, "Purpose": "reset", "Error": msg})
	}
	// A new password ends every other session.
	u, err := s.svc.ResetPassword(r.Context(), clientIP(r), r.PostForm.Get("token"),
		func() string { return HashPassword(password) })
	if err != nil {
		return err
	}
	state(r).sess = nil
	if err := s.startSession(w, r, u, "password_reset"); err != nil {
		return err
	}
	return s.flashRedirect(w, r, home(u), "Your password is changed.")
}
