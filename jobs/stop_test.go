package jobs

import (
	"testing"

	"github.com/fulfillhq/fulfill/integrations"
)

// A job whose process died is rescued after RescueAfter: minutes, not
// River's default hour, yet longer than any live job may run, or River
// would work a running job a second time.
func TestRescueWindowFitsTheLongestJob(t *testing.T) {
	t.Parallel()
	longest := max(JobTimeout, 2*integrations.RequestTimeout)
	if RescueAfter <= longest {
		t.Fatalf("RescueAfter %s is not longer than the longest job timeout %s", RescueAfter, longest)
	}
	if RescueAfter > 10*60*1e9 {
		t.Fatalf("RescueAfter %s: jobs of a dead process wait too long", RescueAfter)
	}
}
