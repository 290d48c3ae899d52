package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// saveScreenshot writes a full-page screenshot of the browser's current page
// to the test's artifact directory (testing.T.ArtifactDir, Go 1.26): kept
// under the output directory with `go test -artifacts -outputdir DIR`,
// otherwise a temporary directory removed after the test. Browser tests
// call it at their last page (issue 4: "each test saves a screenshot of its
// last page under the test's output folder"), for example with
// t.Cleanup(func() { saveScreenshot(t, ctx, "last") }) right after
// newBrowser, so that a failing test leaves its last page too.
func saveScreenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	// Quality 100 makes a PNG, as the file is named (below it, a JPEG).
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	name = strings.NewReplacer("/", "-", " ", "-").Replace(name)
	p := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot %s", p)
	return p
}
