package web_test

import (
	"context"
	"flag"
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
//
// Without -artifacts nothing is taken: the file would be removed with the
// temporary directory, and the captures (a full page, PNG-encoded by
// Chromium, several per page in the mobile test) were a sixth of the
// browser tests' CPU.
func saveScreenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	if !keepArtifacts() {
		return ""
	}
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

// keepArtifacts reports whether the test binary runs with -artifacts, the
// flag that keeps t.ArtifactDir's files.
func keepArtifacts() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}
