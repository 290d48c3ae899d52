// Package jobs runs Fulfill's durable jobs on River: renewals and whatever
// else falls due, on both SQLite and PostgreSQL. Jobs are inserted by the
// services in their business transaction; this package works them.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/commerce"
	"github.com/fulfillhq/fulfill/integrations"
	"github.com/fulfillhq/fulfill/mail"
	"github.com/fulfillhq/fulfill/store"
)

// Runner owns the River client that works the jobs.
type Runner struct {
	client *river.Client[*sql.Tx]
	svc    *commerce.Service
	db     *store.DB
	clock  fulfill.Clock
	sim    *fulfill.SimulatedClock
	log    *slog.Logger
}

// Config configures a Runner.
type Config struct {
	Service *commerce.Service
	Clock   fulfill.Clock
	// Simulated is set when the clock is simulated: then no periodic job
	// runs, and Advance drives what falls due.
	Simulated *fulfill.SimulatedClock
	Logger    *slog.Logger
	// Mail sends email; nil keeps every message in the local outbox, for
	// the admin to read.
	Mail mail.Sender
	// From is the sender address of outgoing mail.
	From string
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
}

type dunningWorker struct {
	river.WorkerDefaults[commerce.DunningArgs]
	svc *commerce.Service
}

func (w *dunningWorker) Work(ctx context.Context, job *river.Job[commerce.DunningArgs]) error {
	return w.svc.ProcessDunning(ctx, job.Args.InvoiceID)
}

type recognizeWorker struct {
	river.WorkerDefaults[commerce.RecognizeArgs]
	svc *commerce.Service
}

func (w *recognizeWorker) Work(ctx context.Context, job *river.Job[commerce.RecognizeArgs]) error {
	_, err := w.svc.RecognizeRevenue(ctx)
	return err
}

type reconcileWorker struct {
	river.WorkerDefaults[commerce.ReconcileArgs]
	svc *commerce.Service
}

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[commerce.ReconcileArgs]) error {
	return w.svc.Reconcile(ctx, job.Args)
}

type emailWorker struct {
	river.WorkerDefaults[commerce.SendEmailArgs]
	db    *store.DB
	mail  mail.Sender
	from  string
	clock fulfill.Clock
}

// Work sends one email. Without SMTP the message stays in the outbox;
// a permanent refusal (5xx, a bad address) is not retried.
func (w *emailWorker) Work(ctx context.Context, job *river.Job[commerce.SendEmailArgs]) error {
	e, err := w.db.Email(ctx, job.Args.EmailID)
	if err != nil {
		return err
	}
	if e.Status == "sent" || e.Status == "outbox" {
		return nil
	}
	if w.mail == nil {
		return w.db.MarkEmail(ctx, e.ID, "outbox", "", nil)
	}
	m := &mail.Message{From: w.from, To: e.To, Subject: e.Subject, Text: e.Body, MessageID: e.ID + "@fulfill"}
	if e.AttachmentName != "" {
		m.Attachments = []mail.Attachment{{Name: e.AttachmentName, ContentType: "text/plain", Data: []byte(e.Attachment)}}
	}
	if err := w.mail.Send(ctx, m); err != nil {
		if mail.IsPermanent(err) {
			if merr := w.db.MarkEmail(ctx, e.ID, "failed", err.Error(), nil); merr != nil {
				// Not recorded: retry, so the row does not stay "pending".
				return fmt.Errorf("send email %s: %w; recording the failure: %w", e.ID, err, merr)
			}
			return river.JobCancel(err)
		}
		if merr := w.db.MarkEmail(ctx, e.ID, "pending", err.Error(), nil); merr != nil {
			return fmt.Errorf("send email %s: %w; recording the failure: %w", e.ID, err, merr)
		}
		return err
	}
	now := w.clock.Now()
	return w.db.MarkEmail(ctx, e.ID, "sent", "", &now)
}

type processDueWorker struct {
	river.WorkerDefaults[commerce.ProcessDueArgs]
	svc *commerce.Service
}

func (w *processDueWorker) Work(ctx context.Context, job *river.Job[commerce.ProcessDueArgs]) error {
	return w.svc.ProcessDue(ctx, job.Args.SubscriptionID)
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

// New builds a Runner; Start starts it.
func New(cfg Config) (*Runner, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &processDueWorker{svc: cfg.Service})
	river.AddWorker(workers, &billingRunWorker{svc: cfg.Service, clock: cfg.Clock})
	river.AddWorker(workers, &reconcileWorker{svc: cfg.Service})
	river.AddWorker(workers, &dunningWorker{svc: cfg.Service})
	river.AddWorker(workers, &recognizeWorker{svc: cfg.Service})
	in := &integrations.Service{DB: cfg.Service.DB, Clock: cfg.Clock, Keys: cfg.Service.Keys, ProvisioningURL: cfg.ProvisioningURL,
		HTTP: cfg.HTTPClient, Logger: cfg.Logger}
	retry := cfg.Retry.WithDefaults()
	river.AddWorker(workers, &eventWorker{in: in})
	river.AddWorker(workers, &webhookWorker{in: in, retry: retry})
	river.AddWorker(workers, &provisionWorker{in: in, retry: retry})
	river.AddWorker(workers, &emailWorker{db: cfg.Service.DB, mail: cfg.Mail, from: cfg.From, clock: cfg.Clock})
	river.AddWorker(workers, &purgeWorker{db: cfg.Service.DB, clock: cfg.Clock, log: cfg.Logger})
	rc := &river.Config{
		Workers: workers,
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 4},
			"billing":          {MaxWorkers: 2},
			"email":            {MaxWorkers: 2},
			"events":           {MaxWorkers: 2},
			"webhooks":         {MaxWorkers: 4},
			"provisioning":     {MaxWorkers: 2},
		},
		// Without LISTEN/NOTIFY on database/sql, River polls: keep it short so
		// work enqueued by a request starts at once.
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		Logger:            cfg.Logger,
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
	return &Runner{client: client, svc: cfg.Service, db: cfg.Service.DB, clock: cfg.Clock, sim: cfg.Simulated, log: log}, nil
}

// Start starts working jobs.
func (r *Runner) Start(ctx context.Context) error { return r.client.Start(ctx) }

// Stop stops after the running jobs finish.
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }

// AdvanceResult says what an Advance did.
type AdvanceResult struct {
	From    fulfill.Date `json:"from"`
	To      fulfill.Date `json:"to"`
	Days    int          `json:"days"`
	JobsRun int          `json:"jobs_enqueued"`
}

// Advance moves the simulated clock forward day by day to the given date,
// and on each day enqueues what falls due and waits until the jobs have run,
// so that work happens in date order. It does not wait for webhook and
// provisioning deliveries (deliveryQueues).
func (r *Runner) Advance(ctx context.Context, to fulfill.Date) (*AdvanceResult, error) {
	if r.sim == nil {
		return nil, fulfill.Errorf(fulfill.ENotFound, "The clock is real; only a server started with --simulated-clock can move it.")
	}
	from := fulfill.Today(r.sim)
	if to.Before(from) {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "to", "The clock is at %s and never moves back.", from)
	}
	if to.After(from.AddDays(3660)) {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "to", "Advance at most 10 years at once.")
	}
	res := &AdvanceResult{From: from, To: to}
	for day := from; !day.After(to); day = day.AddDays(1) {
		if day.After(from) {
			r.sim.Set(day.Time())
			res.Days++
		}
		n, err := r.svc.EnqueueDue(ctx, day)
		if err != nil {
			return res, err
		}
		res.JobsRun += n
		if n > 0 {
			if err := r.drain(ctx, 60*time.Second, deliveryQueues...); err != nil {
				return res, err
			}
		}
	}
	return res, nil
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
