package invoicepdf

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// TestRendersAtOnceMatchOneAtATime: invoices rendered at the same time (the
// mail workers and the requests that issue credit notes do) come out as
// when rendered alone. The code page translator that every renderer
// shares keeps a buffer of its own: used at once, it corrupted the text or
// panicked (index out of range in bytes.Buffer, seen in CI).
func TestRendersAtOnceMatchOneAtATime(t *testing.T) {
	t.Parallel()
	want := map[string][]byte{}
	for _, c := range cases {
		var b bytes.Buffer
		if err := render(&b, c.doc(), false); err != nil {
			t.Fatal(err)
		}
		want[c.name] = b.Bytes()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs <- fmt.Errorf("renderer %d panicked: %v", g, p)
				}
			}()
			for range 40 {
				for _, c := range cases {
					var b bytes.Buffer
					if err := render(&b, c.doc(), false); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(b.Bytes(), want[c.name]) {
						errs <- fmt.Errorf("renderer %d: %s differs from its rendering alone", g, c.name)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
