// Package jobs runs Fulfill's durable jobs on River: renewals and whatever
// else falls due, on both SQLite and PostgreSQL. Jobs are inserted by the
// services in their business transaction; this package works them.
package jobs

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/mail"
	"github.com/fulfillhq/fulfill/metrics"
	"github.com/fulfillhq/fulfill/store"
)

// QueueWorkers is how many jobs of the email, events and webhooks queues
// run at once in one process.
const QueueWorkers = 32

// Runner owns the River client that works the jobs.
type Runner struct {
	client *river.Client[*sql.Tx]
	svc    *commerce.Service
	db     *store.DB
	clock  fulfill.Clock
	sim    SimulatedClock
	log    *slog.Logger
	id     string // River client ID (newCopyID)
}

// Config configures a Runner.
type Config struct {
	Service *commerce.Service
	Clock   fulfill.Clock
	// Simulated is set when the clock is simulated: then no periodic job
	// runs, and Advance drives what falls due. Serve uses the clock stored
	// in the database (store.SimClock), shared by every copy.
	Simulated SimulatedClock
	Logger    *slog.Logger
	// Mail sends email; nil keeps every message in the local outbox, for
	// the admin to read.
	Mail mail.Sender
	// From is the sender address of outgoing mail.
	From string
	// MailTimeout bounds each mail's exchange with the SMTP server (a job
	// sends several); zero is mail.DefaultTimeout. Tests shorten it.
	MailTimeout time.Duration
	// ProvisioningURL is the SaaS product's base URL for provisioning
	// requests; empty disables provisioning.
	ProvisioningURL string
	// Retry is the webhook and provisioning retry schedule; zero fields
	// take integrations.DefaultRetry (three days). Tests compress it.
	Retry integrations.RetryPolicy
	// HTTPClient sends webhooks and provisioning requests; nil is a default
	// client that follows no redirects and never dials a link-local or
	// cloud-metadata address. A client set here bypasses that guard.
	HTTPClient *http.Client
	// Metrics counts failed job attempts by kind; nil counts nothing.
	Metrics *metrics.Recorder
}

type emailWorker struct {
	river.WorkerDefaults[commerce.SendEmailArgs]
	db    *store.DB
	marks *store.EmailMarks // outcomes committed in groups
	mail  mail.Sender
	from  string
	clock fulfill.Clock
	// timeout bounds one mail's exchange with the server.
	timeout time.Duration
}

// Work sends the job's mails, each still pending, one after another, and
// records each outcome as soon as it is known (store.EmailMarks). A mail
// marked sent (or kept in the outbox) is never sent again, so a job that
// failed on one of its mails and is retried sends only what is left; a
// mail refused for good (marked failed) is not tried again by the retries
// of the job. Any transient failure retries the job; if every failure is
// permanent, the job is cancelled. A job of one mail is no different.
func (w *emailWorker) Work(ctx context.Context, job *river.Job[commerce.SendEmailArgs]) error {
	var retry, cancel []error
	for _, id := range job.Args.IDs() {
		err := w.send(ctx, id)
		var c *river.JobCancelError
		switch {
		case err == nil:
		case errors.As(err, &c):
			cancel = append(cancel, err)
		default:
			retry = append(retry, err)
		}
	}
	if len(retry) > 0 {
		// The permanent failures only as text: River cancels a job whose
		// error holds a JobCancelError anywhere.
		for _, err := range cancel {
			retry = append(retry, errors.New(err.Error()))
		}
		return errors.Join(retry...)
	}
	if len(cancel) > 0 {
		return river.JobCancel(errors.Join(cancel...))
	}
	return nil
}

// send sends one email. Without SMTP the message stays in the outbox; a
// permanent refusal (5xx, a bad address) is not retried (the error is a
// river.JobCancel). A mail already refused for good is skipped, and the
// exchange with the server is bounded by w.timeout (mail.DefaultTimeout),
// not by all the time the job has left, so that a mail that hangs leaves
// time for the others of its job.
func (w *emailWorker) send(ctx context.Context, id string) error {
	e, err := w.db.Email(ctx, id)
	if err != nil {
		return err
	}
	if e.Status == "sent" || e.Status == "outbox" || e.Status == "failed" {
		return nil
	}
	// An invoice PDF is rendered here rather than in the transaction that
	// issued the invoice, and stored once with the outcome (one write, not
	// two): from then on the stored copy is the PDF that was sent.
	var rendered string
	if e.AttachmentSource != "" {
		if rendered, err = commerce.RenderAttachment(e); err != nil {
			return river.JobCancel(err)
		}
		e.Attachment, e.AttachmentSource = rendered, ""
	}
	mark := func(status, errText string, at *time.Time) error {
		return w.marks.Mark(ctx, store.EmailMark{ID: e.ID, Status: status, Error: errText, SentAt: at, Attachment: rendered})
	}
	if w.mail == nil {
		return mark("outbox", "", nil)
	}
	m := &mail.Message{From: w.from, To: e.To, Subject: e.Subject, Text: e.Body, HTML: commerce.MailHTML(e.Kind, e.Body),
		MessageID: e.ID + "@fulfill"}
	if e.AttachmentName != "" {
		a, err := attachment(e)
		if err != nil {
			return river.JobCancel(fmt.Errorf("email %s: %w", e.ID, err))
		}
		m.Attachments = []mail.Attachment{a}
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := w.mail.Send(sendCtx, m); err != nil {
		if mail.IsPermanent(err) {
			if merr := mark("failed", err.Error(), nil); merr != nil {
				// Not recorded: retry, so the row does not stay "pending".
				return fmt.Errorf("send email %s: %w; recording the failure: %w", e.ID, err, merr)
			}
			return river.JobCancel(err)
		}
		if merr := mark("pending", err.Error(), nil); merr != nil {
			return fmt.Errorf("send email %s: %w; recording the failure: %w", e.ID, err, merr)
		}
		return err
	}
	now := w.clock.Now()
	return mark("sent", "", &now)
}

// BillingRunArgs is the daily job that enqueues what falls due today.
type BillingRunArgs struct{}

// Kind names the job.
func (BillingRunArgs) Kind() string { return "billing.run" }

type billingRunWorker struct {
	river.WorkerDefaults[BillingRunArgs]
	svc   *commerce.Service
	clock fulfill.Clock
}

func (w *billingRunWorker) Work(ctx context.Context, job *river.Job[BillingRunArgs]) error {
	_, err := w.svc.EnqueueDue(ctx, fulfill.Today(w.clock))
	return err
}

// countFailures counts every failed attempt of a job by its kind.
func countFailures(m *metrics.Recorder) rivertype.Middleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, job *rivertype.JobRow, work func(ctx context.Context) error) error {
		err := work(ctx)
		if err != nil {
			m.JobFailed(ctx, job.Kind, err)
		}
		return err
	})
}

// SimulatedClock is a clock Advance moves: store.SimClock, stored in the
// database and shared by every copy, or fulfill.SimulatedClock in one
// process (tests), which Advance keeps in step with the stored clock.
type SimulatedClock interface {
	fulfill.Clock
	Set(time.Time)
}

// New builds a Runner; Start starts it.
func New(cfg Config) (*Runner, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &billingRunWorker{svc: cfg.Service, clock: cfg.Clock})
	addServiceWorkers(workers, cfg.Service)
	in := &integrations.Service{DB: cfg.Service.DB, Clock: cfg.Clock, Keys: cfg.Service.Keys, ProvisioningURL: cfg.ProvisioningURL,
		HTTP: cfg.HTTPClient, Logger: cfg.Logger}
	retry := cfg.Retry.WithDefaults()
	river.AddWorker(workers, &eventWorker{in: in})
	river.AddWorker(workers, &webhookWorker{in: in, retry: retry})
	river.AddWorker(workers, &provisionWorker{in: in, retry: retry})
	mailTimeout := cfg.MailTimeout
	if mailTimeout <= 0 {
		mailTimeout = mail.DefaultTimeout
	}
	river.AddWorker(workers, &emailWorker{db: cfg.Service.DB, marks: store.NewEmailMarks(cfg.Service.DB), mail: cfg.Mail, from: cfg.From,
		clock: cfg.Clock, timeout: mailTimeout})
	river.AddWorker(workers, &purgeWorker{db: cfg.Service.DB, clock: cfg.Clock, log: cfg.Logger})
	id := newCopyID()
	rc := &river.Config{
		ID:      id,
		Workers: workers,
		// A purchase queues a mail and events: with 2 workers a queue, and
		// one fetch per FetchCooldown filling the free workers, a queue
		// drained about 97 jobs/s and fell minutes behind a purchase load.
		// Jobs are short (a row or two, or one request), so the queues that
		// follow every purchase fetch many at once.
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 4},
			"billing":          {MaxWorkers: 4},
			"email":            {MaxWorkers: QueueWorkers},
			"events":           {MaxWorkers: QueueWorkers},
			"webhooks":         {MaxWorkers: QueueWorkers},
			"provisioning":     {MaxWorkers: 4},
		},
		// On SQLite River polls: keep it short so work enqueued by a request
		// starts at once. On PostgreSQL the workers LISTEN (see
		// store.DB.RiverDriver) and a poll is only the fallback.
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: pollInterval(cfg.Service.DB),
		Logger:            riverLogger(cfg.Logger),
		// A job whose process died is worked again after RescueAfter.
		JobTimeout:           JobTimeout,
		RescueStuckJobsAfter: RescueAfter,
		Middleware:           []rivertype.Middleware{countFailures(cfg.Metrics)},
	}
	if cfg.Simulated == nil {
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
				return BillingRunArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(PurgeInterval), func() (river.JobArgs, *river.InsertOpts) {
				return PurgeArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
		}
	}
	client, err := river.NewClient(cfg.Service.DB.RiverDriver(), rc)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Runner{client: client, svc: cfg.Service, db: cfg.Service.DB, clock: cfg.Clock, sim: cfg.Simulated, log: log, id: id}, nil
}

// pollInterval is how often an idle queue looks for jobs: on PostgreSQL,
// where a new job is announced by NOTIFY, once a second (River's default)
// instead of ten times, which made an idle server query PostgreSQL about 57
// times a second.
func pollInterval(db *store.DB) time.Duration {
	if db.Dialect == store.Postgres {
		return time.Second
	}
	return 100 * time.Millisecond
}

// Start starts working jobs. A leadership left by a copy that died on this
// machine is taken over at once (reclaimDeadLeader).
func (r *Runner) Start(ctx context.Context) error {
	if _, err := r.reclaimDeadLeader(ctx); err != nil {
		r.log.Warn("could not check whether the job maintenance leader is alive; waiting for its lease instead", "err", err)
	}
	return r.client.Start(ctx)
}

// ID is this copy's River client ID.
func (r *Runner) ID() string { return r.id }

// Stop stops after the running jobs finish.
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }

// AdvanceResult says what an Advance did.
type AdvanceResult struct {
	From fulfill.Date `json:"from"`
	To   fulfill.Date `json:"to"`
	Days int          `json:"days"`
	// JobsRun counts the items of work that fell due (renewals, expiries,
	// reconciliations, payment retries, revenue recognitions) and were done.
	JobsRun int `json:"jobs_enqueued"`
}

// AdvanceLease is how long an advance holds the clock without a sign of
// life; it is renewed after every item of work, and a crashed advance's
// lease runs out after it, so the next advance can continue.
var AdvanceLease = 15 * time.Second

// followUpWait bounds how long an advance waits, at its end, for the jobs
// its work queued (emails, events), so that an answer finds them done; it
// never fails an advance.
const followUpWait = 10 * time.Second

// Advance moves the simulated clock forward day by day to the given date
// and does, in the request and in date order, what falls due on each day
// (commerce.Service.RunScheduled). The clock lives in the database: the
// target and a lease are recorded before the first step, each day is stored
// before its work runs, and every item of work is idempotent, so after a
// crash the next advance continues from the stored day and nothing is done
// twice or skipped. It does not wait for webhook and provisioning
// deliveries, nor for jobs another process left running.
func (r *Runner) Advance(ctx context.Context, to fulfill.Date) (*AdvanceResult, error) {
	if r.sim == nil {
		return nil, fulfill.Errorf(fulfill.ENotFound, "The clock is real; only a server started with --simulated-clock can move it.")
	}
	cur := fulfill.Today(r.sim)
	if to.After(cur.AddDays(3660)) {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "to", "Advance at most 10 years at once.")
	}
	if _, err := r.db.InitClock(ctx, cur); err != nil {
		return nil, err
	}
	firstJob, err := r.db.LastJobID(ctx)
	if err != nil {
		return nil, err
	}
	owner := fulfill.NewID("adv")
	now := time.Now()
	prev, err := r.db.BeginAdvance(ctx, owner, to, now, now.Add(AdvanceLease))
	if err != nil {
		return nil, err
	}
	if prev.AdvanceTo != nil {
		r.log.Info("continuing an interrupted advance of the simulated clock", "at", prev.Today, "was_to", *prev.AdvanceTo, "to", to)
	}
	res, err := r.advanceDays(ctx, owner, prev.Today, to)
	// A failed advance keeps its target on record, as interrupted.
	if endErr := r.db.EndAdvance(context.WithoutCancel(ctx), owner, err == nil); endErr != nil {
		r.log.Error("release the simulated clock", "err", endErr)
	}
	if err != nil {
		return res, err
	}
	r.waitFollowUps(ctx, firstJob)
	return res, nil
}

// advanceDays moves the clock of owner's advance from from to to, storing
// each day before doing its work.
func (r *Runner) advanceDays(ctx context.Context, owner string, from, to fulfill.Date) (*AdvanceResult, error) {
	r.sim.Set(from.Time())
	res := &AdvanceResult{From: from, To: to}
	for day := from; !day.After(to); day = day.AddDays(1) {
		if day.After(from) {
			if err := r.db.StepClock(ctx, owner, day, time.Now().Add(AdvanceLease)); err != nil {
				return res, err
			}
			r.sim.Set(day.Time())
			res.Days++
		}
		n, err := r.runDay(ctx, owner, day)
		res.JobsRun += n
		if err != nil {
			return res, fmt.Errorf("advance the clock: the work due on %s: %w", day, err)
		}
	}
	return res, nil
}

// runDay does what falls due on day, renewing owner's lease as it goes.
func (r *Runner) runDay(ctx context.Context, owner string, day fulfill.Date) (int, error) {
	renewed, items := time.Now(), 0
	var leaseErr error
	_, err := r.svc.RunScheduled(ctx, day, func(done, total int) {
		items = total - 1 // the last step is the end of the run
		if leaseErr == nil && time.Since(renewed) > AdvanceLease/5 {
			renewed = time.Now()
			leaseErr = r.db.RenewClockLease(ctx, owner, renewed.Add(AdvanceLease))
		}
	})
	if err == nil {
		err = leaseErr
	}
	return items, err
}

// waitFollowUps waits, within followUpWait, until the jobs queued after
// afterID up to now, outside the delivery queues, have run. Jobs queued
// later (by requests since) and a job a dead process left running do not
// hold it for longer.
func (r *Runner) waitFollowUps(ctx context.Context, afterID int64) {
	last, err := r.db.LastJobID(ctx)
	if err == nil && last > afterID {
		err = r.drainRange(ctx, followUpWait, afterID, last)
	}
	if err != nil {
		r.log.Warn("advance of the simulated clock: follow-up jobs still pending", "err", err)
	}
}

// deliveryQueues hold the jobs that call other machines (webhook
// receivers, the SaaS product). They retry on their own schedule, so an
// Advance never waits for them: a receiver that is down or slow must not
// hold the clock back.
var deliveryQueues = []string{integrations.DeliverArgs{}.InsertOpts().Queue, integrations.ProvisionArgs{}.InsertOpts().Queue}

// Drain waits until no job is available or running.
func (r *Runner) Drain(ctx context.Context, timeout time.Duration) error {
	return r.drain(ctx, timeout)
}

// drainRange waits until no job with an id in (afterID, lastID] outside
// the delivery queues is available or running.
func (r *Runner) drainRange(ctx context.Context, timeout time.Duration, afterID, lastID int64) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := r.db.PendingJobsBetween(ctx, afterID, lastID, deliveryQueues...)
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d jobs still pending after %s", n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// drain waits until no job outside exceptQueues is available or running.
func (r *Runner) drain(ctx context.Context, timeout time.Duration, exceptQueues ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := r.db.PendingJobs(ctx, exceptQueues...)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jobs still pending after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Simulated reports whether the clock is simulated.
func (r *Runner) Simulated() bool { return r.sim != nil }

// attachment is an email's stored attachment: a PDF is kept base64-encoded
// (the column is text), anything else as the text it is.
func attachment(e *fulfill.Email) (mail.Attachment, error) {
	if !strings.HasSuffix(e.AttachmentName, ".pdf") {
		return mail.Attachment{Name: e.AttachmentName, ContentType: "text/plain", Data: []byte(e.Attachment)}, nil
	}
	data, err := base64.StdEncoding.DecodeString(e.Attachment)
	if err != nil {
		return mail.Attachment{}, fmt.Errorf("decode attachment %s: %w", e.AttachmentName, err)
	}
	return mail.Attachment{Name: e.AttachmentName, ContentType: "application/pdf", Data: data}, nil
}

// addServiceWorkers registers the jobs that are one call of a commerce
// use case each: the job's arguments are the call's.
func addServiceWorkers(workers *river.Workers, svc *commerce.Service) {
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.ProcessDueArgs]) error {
		return svc.ProcessDue(ctx, job.Args.SubscriptionID)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.ProcessDueBatchArgs]) error {
		return svc.ProcessDueBatch(ctx, job.Args.SubscriptionIDs)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.ReconcileArgs]) error {
		return svc.Reconcile(ctx, job.Args)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.DunningArgs]) error {
		return svc.ProcessDunning(ctx, job.Args.InvoiceID)
	}))
	// The completer: a payment attempt whose request died between its
	// phases and was not retried is asked of the provider and recorded.
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.CompletePaymentArgs]) error {
		return svc.CompletePayment(ctx, job.Args.AttemptID)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.RecognizeArgs]) error {
		_, err := svc.RecognizeRevenue(ctx)
		return err
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.StaleInstancesArgs]) error {
		_, err := svc.MarkStaleInstances(ctx)
		return err
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.NoticeArgs]) error {
		return svc.SendNotice(ctx, job.Args)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.DescribeCardArgs]) error {
		return svc.DescribeCard(ctx, job.Args.PaymentMethodID)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[commerce.CardExpiryArgs]) error {
		return svc.SendCardExpiryNotice(ctx, job.Args)
	}))
}
