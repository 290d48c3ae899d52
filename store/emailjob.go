package store

import "github.com/riverqueue/river"

// SendEmailArgs is the job that sends mail from the outbox: the mails one
// transaction queued, in order, in one job (EmailIDs), rather than a job
// each (a card purchase queues a receipt and a license mail), or the one
// mail of EmailID. A transaction that queues a single mail still writes
// EmailID, the form of the jobs enqueued before EmailIDs existed, which
// every copy of the server works.
type SendEmailArgs struct {
	EmailID  string   `json:"email_id,omitempty"`
	EmailIDs []string `json:"email_ids,omitempty"`
}

// IDs are the mails the job sends, in order.
func (a SendEmailArgs) IDs() []string { return jobIDs(a.EmailID, a.EmailIDs) }

// Kind names the job.
func (SendEmailArgs) Kind() string { return "email.send" }

// InsertOpts retries a failed send for about a day.
func (SendEmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "email", MaxAttempts: 20}
}

// EnqueueEmail has the mail id (inserted in this transaction) sent after
// the transaction commits, by the SendEmailArgs job that sends the mails
// the transaction queued (insertJobs): a rolled-back change sends nothing.
// A transaction of many mails (a billing batch queues two per renewal) has
// a job per mailsPerJob of them, so that the email queue's workers send
// them side by side and no job runs into River's job timeout.
func (t *Tx) EnqueueEmail(id string) { t.emails = append(t.emails, id) }

// mailsPerJob bounds the mails of one job.
const mailsPerJob = 20

// emailJob is the job that sends the mails of EnqueueEmail.
func emailJob(ids []string) SendEmailArgs {
	if len(ids) == 1 {
		return SendEmailArgs{EmailID: ids[0]}
	}
	return SendEmailArgs{EmailIDs: ids}
}
