package backoffice

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/csvsafe"
	"github.com/fulfillhq/fulfill/store"
)

// CRM is the adapter to a CRM system: it receives every business event
// (customer created, subscription created, seats changed, renewed, …).
// Events arrive at least once, so an adapter treats an event id it has
// already recorded as done.
type CRM interface {
	Record(ctx context.Context, e *store.Event) error
}

// CSVFile is a CRM that needs nothing outside this machine: it appends one
// row per event to a CSV file (id, type, version, created_at, customer_id,
// subject_id, data as JSON), which any CRM can import and a person can read.
// It skips events already in the file.
type CSVFile struct {
	Path string

	mu   sync.Mutex
	seen map[string]bool
}

var crmColumns = []string{"id", "type", "version", "created_at", "customer_id", "subject_id", "data"}

// Record appends the event unless the file already has it.
func (f *CSVFile) Record(ctx context.Context, e *store.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		if err := f.load(); err != nil {
			return err
		}
	}
	if f.seen[e.ID] {
		return nil
	}
	file, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	w := csvsafe.NewWriter(file)
	if len(f.seen) == 0 {
		if st, err := file.Stat(); err == nil && st.Size() == 0 {
			w.Write(crmColumns)
		}
	}
	w.Write([]string{e.ID, e.Type, e.Version, e.CreatedAt.UTC().Format(time.RFC3339Nano), deref(e.CustomerID), e.SubjectID, string(e.Data)})
	w.Flush()
	if err := errors.Join(w.Error(), file.Sync(), file.Close()); err != nil {
		return err
	}
	f.seen[e.ID] = true
	return nil
}

// load reads the ids the file already holds.
func (f *CSVFile) load() error {
	f.seen = map[string]bool{}
	file, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	r := csv.NewReader(file)
	r.FieldsPerRecord = -1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) > 0 && rec[0] != "id" {
			f.seen[rec[0]] = true
		}
	}
}

// Sync hands every event created at or after since to crm, oldest first,
// and returns how many it handed over. Run it again to catch up: a CRM
// that records each id once makes repeated runs harmless.
func Sync(ctx context.Context, db *store.DB, crm CRM, since time.Time) (int, error) {
	var all []*store.Event
	page := fulfill.Page{Limit: 500}
	for {
		evs, err := db.Events(ctx, "", since, page)
		if err != nil {
			return 0, err
		}
		all = append(all, evs...)
		if len(evs) < page.Limit {
			break
		}
		page.Cursor = evs[len(evs)-1].ID
	}
	slices.Reverse(all) // the store lists newest first
	for i, e := range all {
		if err := crm.Record(ctx, e); err != nil {
			return i, err
		}
	}
	return len(all), nil
}
