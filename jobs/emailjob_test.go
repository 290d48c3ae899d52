package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/internal/dbtest"
	"github.com/fulfillhq/fulfill/internal/testenv"
	"github.com/fulfillhq/fulfill/jobs"
	"github.com/fulfillhq/fulfill/mail"
	"github.com/fulfillhq/fulfill/store"
)

// flakySender records every attempt to send a message, by Message-ID, and
// answers as fail says for each attempt (nil: delivered).
type flakySender struct {
	mu       sync.Mutex
	attempts map[string]int
	fail     func(ctx context.Context, m *mail.Message, attempt int) error
}

func (s *flakySender) Send(ctx context.Context, m *mail.Message) error {
	s.mu.Lock()
	s.attempts[m.MessageID]++
	n := s.attempts[m.MessageID]
	s.mu.Unlock()
	return s.fail(ctx, m, n)
}

func (s *flakySender) tries(emailID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[emailID+"@fulfill"]
}

// Issue 18: the mails one transaction queues (a card purchase's receipt and
// license mail) are sent by one job, not a job each: one insert, fetch and
// completion instead of two. A job that fails on one of its mails is
// retried without sending again a mail it sent, or one refused for good;
// each mail's outcome is its own.
func TestTransactionMailsGoOutInOneJobAndARetrySendsOnlyWhatIsLeft(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		purchase := func(email string) []*fulfill.Email {
			c, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: email, Name: "Mo Mail", Country: "US"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.Svc.Purchase(ctx, commerce.System, commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 3,
				PaymentMethod: "pm_card_visa"}); err != nil {
				t.Fatal(err)
			}
			es, err := env.DB.Emails(ctx, c.ID, fulfill.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 2 {
				t.Fatalf("a card purchase queued %d mails, want 2 (receipt and license)", len(es))
			}
			return es
		}
		// ok@: the receipt goes out, the license mail fails once.
		// refused@: the receipt is refused for good, the license mail
		// fails once.
		okMails, refusedMails := purchase("ok@example.com"), purchase("refused@example.com")
		args := `json(args)`
		if env.DB.Dialect == store.Postgres {
			args = `args::text`
		}
		rows, err := env.DB.Read.QueryContext(ctx, `SELECT `+args+` FROM river_job WHERE kind = 'email.send' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var jobArgs []string
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				t.Fatal(err)
			}
			jobArgs = append(jobArgs, a)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(jobArgs) != 2 {
			t.Fatalf("two card purchases enqueued %d email.send jobs, want one each: %q", len(jobArgs), jobArgs)
		}
		for i, es := range [][]*fulfill.Email{okMails, refusedMails} {
			for _, e := range es {
				if !strings.Contains(jobArgs[i], e.ID) {
					t.Fatalf("job %d %s does not name mail %s", i, jobArgs[i], e.ID)
				}
			}
		}
		sender := &flakySender{attempts: map[string]int{}, fail: func(ctx context.Context, m *mail.Message, attempt int) error {
			receipt := strings.HasPrefix(m.Subject, "Receipt")
			switch {
			case receipt && strings.HasPrefix(m.To, "refused@"):
				return &textproto.Error{Code: 550, Msg: "mailbox unavailable"}
			case !receipt && attempt == 1:
				return errors.New("connection reset by peer")
			}
			return nil
		}}
		runner, err := jobs.New(jobs.Config{Service: env.Svc, Clock: fulfill.Clock(env.Clock), Mail: sender, From: "vendor@example.com",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start(t, runner)
		status := func(id string) string {
			e, err := env.DB.Email(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return e.Status
		}
		want := map[string]string{}
		tries := map[string]int{}
		for _, es := range [][]*fulfill.Email{okMails, refusedMails} {
			for _, e := range es {
				receipt := strings.HasPrefix(e.Subject, "Receipt")
				want[e.ID], tries[e.ID] = "sent", 2
				if receipt {
					tries[e.ID] = 1
					if es[0].To == "refused@example.com" {
						want[e.ID] = "failed"
					}
				}
			}
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			done := true
			for id, st := range want {
				if status(id) != st {
					done = false
				}
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				for id, st := range want {
					t.Errorf("mail %s: %s after %d tries, want %s", id, status(id), sender.tries(id), st)
				}
				t.FailNow()
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := runner.Drain(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		for id, n := range tries {
			if got := sender.tries(id); got != n {
				t.Errorf("mail %s (%s) was tried %d times, want %d", id, want[id], got, n)
			}
		}
	})
}

// A job enqueued before one job carried a transaction's mails (one
// email_id, still in a database being upgraded) sends its mail.
func TestQueuedSingleMailJobStillSends(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		m := &fulfill.Email{ID: fulfill.NewID("em"), Kind: "test", To: "old@example.com", Subject: "Queued before the upgrade",
			Body: "A test email.", Status: "pending", CreatedAt: env.Clock.Now()}
		err := env.DB.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.InsertEmail(m); err != nil {
				return err
			}
			// The job as it was written before: {"email_id": ...}.
			return tx.Enqueue(legacyEmailArgs{EmailID: m.ID}, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		sender := &flakySender{attempts: map[string]int{}, fail: func(context.Context, *mail.Message, int) error { return nil }}
		runner, err := jobs.New(jobs.Config{Service: env.Svc, Clock: fulfill.Clock(env.Clock), Mail: sender, From: "vendor@example.com",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start(t, runner)
		if err := runner.Drain(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		e, err := env.DB.Email(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != "sent" || sender.tries(m.ID) != 1 {
			t.Fatalf("the queued job's mail: %s after %d tries, want sent once", e.Status, sender.tries(m.ID))
		}
	})
}

// legacyEmailArgs is the email.send job as it was encoded before it could
// carry several mails.
type legacyEmailArgs struct {
	EmailID string `json:"email_id"`
}

func (legacyEmailArgs) Kind() string { return "email.send" }

func (legacyEmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "email", MaxAttempts: 20}
}

// A mail that hangs at the SMTP server does not hold back the other mails
// of its job: each exchange is bounded on its own (MailTimeout), not by all
// the time the job has (a minute), and the hanging one is retried.
func TestHangingMailLeavesTimeForTheOthersOfItsJob(t *testing.T) {
	t.Parallel()
	dbtest.ForEachParallel(t, func(t *testing.T, url string) {
		env := testenv.New(t, url, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "US")
		ctx := context.Background()
		c, err := env.Svc.CreateCustomer(ctx, commerce.CustomerInput{Email: "slow@example.com", Name: "Sal Slow", Country: "US"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Svc.Purchase(ctx, commerce.System, commerce.PurchaseInput{CustomerID: c.ID, Plan: "sm-premium", Seats: 3,
			PaymentMethod: "pm_card_visa"}); err != nil {
			t.Fatal(err)
		}
		es, err := env.DB.Emails(ctx, c.ID, fulfill.Page{Limit: 10})
		if err != nil || len(es) != 2 {
			t.Fatalf("%d mails, %v; want 2", len(es), err)
		}
		sender := &flakySender{attempts: map[string]int{}, fail: func(ctx context.Context, m *mail.Message, attempt int) error {
			if strings.HasPrefix(m.Subject, "Receipt") && attempt == 1 {
				<-ctx.Done() // hangs until its exchange is given up
				return ctx.Err()
			}
			return nil
		}}
		runner, err := jobs.New(jobs.Config{Service: env.Svc, Clock: fulfill.Clock(env.Clock), Mail: sender, From: "vendor@example.com",
			MailTimeout: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		start(t, runner)
		// Without the bound the receipt held the job for its whole minute.
		deadline := time.Now().Add(30 * time.Second)
		for {
			sent := 0
			for _, e := range es {
				got, err := env.DB.Email(ctx, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == "sent" {
					sent++
				}
			}
			if sent == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of the 2 mails sent after 30 s", sent)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
