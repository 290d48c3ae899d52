package jobs

import "context"

// RetryJob makes a failed job available to run again now (the admin
// console's retry button).
func (r *Runner) RetryJob(ctx context.Context, id int64) error {
	_, err := r.client.JobRetry(ctx, id)
	return err
}
