package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// fullPNG is chromedp.FullScreenshot(100), a PNG of the whole page,
// encoded for speed rather than size: the browser tests take a few dozen,
// and Chromium's default PNG compression was a good part of their CPU.
func fullPNG() chromedp.Action[[]byte] {
	return func(ctx context.Context, _ *chromedp.Target) ([]byte, error) {
		yes := true
		r, err := chromedp.Call(ctx, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{
			CaptureBeyondViewport: &yes,
			FromSurface:           &yes,
			Format:                cdppage.CaptureScreenshotFormatPng,
			OptimizeForSpeed:      &yes,
		})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	}
}

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
	png, err := chromedp.Run(ctx, fullPNG())
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
