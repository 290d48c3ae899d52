package commerce

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/internal/csvsafe"
	"github.com/fulfillhq/fulfill/license"
	"github.com/fulfillhq/fulfill/store"
)

// What an import reads. A customers file may carry the subscription columns
// too: such a row imports the customer with its subscription, or neither.
const (
	ImportCustomers     = "customers"
	ImportSubscriptions = "subscriptions"
)

var (
	customerColumns     = []string{"email", "name", "company", "address", "city", "postal_code", "country", "tax_id", "currency", "external_id"}
	subscriptionColumns = []string{"plan", "seats", "starts_on", "ends_on", "auto_renew", "state", "seat_reconciliation", "namespace"}
	// A subscriptions file names the customer by email or external id.
	subscriptionKeyColumns = []string{"customer_email", "external_id"}
)

// ImportOptions tune an import.
type ImportOptions struct {
	Actor Actor
	// AllOrNothing imports nothing when any row is rejected.
	AllOrNothing bool
	// DryRun validates every row and reports, but writes nothing.
	DryRun bool
	// Progress, if set, is called as rows are written: done of total.
	Progress func(done, total int)
}

// RowError is why one row of an import was rejected.
type RowError struct {
	Line   int    `json:"line"` // the row's line in the file; the header is line 1
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e RowError) String() string { return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason) }

// ImportReport says what an import did.
type ImportReport struct {
	Rows          int        `json:"rows"`          // data rows read
	Imported      int        `json:"imported"`      // rows written (0 on a dry run or a refused all-or-nothing import)
	Customers     int        `json:"customers"`     // customers created
	Subscriptions int        `json:"subscriptions"` // subscriptions created
	Licenses      int        `json:"licenses"`      // licenses issued to self-managed subscriptions
	Rejected      []RowError `json:"rejected"`      // every rejected row, in file order
}

// importRow is one valid row, ready to write.
type importRow struct {
	line     int
	customer *fulfill.Customer // nil: the subscription is for an existing customer
	existing *fulfill.Customer // the existing customer a subscriptions row names
	external string
	sub      *fulfill.Subscription
}

// importBatchSize is how many rows an import validates and writes
// together: one lookup query per kind of key and a few multi-row INSERTs
// per table for each batch (store/importbatch.go), so that memory holds a
// batch, not the file.
const importBatchSize = 500

// Import migrates an existing customer base from a CSV file (see
// docs/import.md). Every row is validated; rejected rows are reported with
// their line and reason and the others are written in one transaction, so an
// error or a canceled context midway leaves nothing imported. Imported
// subscriptions are recorded as they stand: no invoice, no charge, a version
// entry "import", and a license (not emailed) for self-managed plans that
// have not expired.
//
// The file is read twice, in batches, in the transaction: once to validate
// every row (a dry run or a refused all-or-nothing import stops there,
// having written nothing), then to validate and write. A reader that cannot
// seek is first copied to a temporary file.
func (s *Service) Import(ctx context.Context, kind string, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	if kind != ImportCustomers && kind != ImportSubscriptions {
		return nil, fulfill.Errorf(fulfill.EInvalid, "Import %q: want %q or %q.", kind, ImportCustomers, ImportSubscriptions)
	}
	if opts.Actor == "" {
		opts.Actor = System
	}
	src, cleanup, err := rewindable(r)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := checkImportHeader(kind, src); err != nil {
		return nil, err // before taking the write lock
	}
	var rep *ImportReport
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		restore, err := tx.GrowCache()
		if err != nil {
			return err
		}
		defer restore()
		first, err := s.importPass(ctx, tx, kind, src, nil)
		if err != nil {
			return err
		}
		rep = first
		if opts.DryRun || (opts.AllOrNothing && len(first.Rejected) > 0) {
			return nil
		}
		w := &importWriter{actor: opts.Actor, total: first.Rows - len(first.Rejected), progress: opts.Progress}
		if rep, err = s.importPass(ctx, tx, kind, src, w); err != nil {
			return err
		}
		if len(rep.Rejected) != len(first.Rejected) {
			// Only a file that changed, or rows another writer added
			// meanwhile, can do that: the report would not say what
			// the first reading promised.
			return fmt.Errorf("import: %d rows rejected on the second reading of the file, %d on the first", len(rep.Rejected), len(first.Rejected))
		}
		rep.Imported = w.done
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// checkImportHeader reads the file's header and checks it (importHeader).
func checkImportHeader(kind string, src *importSource) error {
	if _, err := src.rewind(); err != nil {
		return err
	}
	header, err := csv.NewReader(bufio.NewReader(src)).Read()
	if err != nil {
		return fulfill.Errorf(fulfill.EInvalid, "The file has no CSV header line.")
	}
	_, _, err = importHeader(kind, header)
	return err
}

// importSource is the file, read again from its start by each pass.
type importSource struct {
	io.ReadSeeker
	start int64
}

func (src *importSource) rewind() (int64, error) {
	return src.Seek(src.start, io.SeekStart)
}

// rewindable is r, or a copy of it in a temporary file if r cannot seek.
func rewindable(r io.Reader) (*importSource, func(), error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			return &importSource{rs, start}, func() {}, nil
		}
	}
	f, err := os.CreateTemp("", "fulfill-import-*.csv")
	if err != nil {
		return nil, nil, fmt.Errorf("import: copy the file: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, r); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("import: copy the file: %w", err)
	}
	return &importSource{f, 0}, cleanup, nil
}

// importRecord is one row as read, not yet validated.
type importRecord struct {
	line   int
	fields []string
}

// importPass reads the file from its start and validates every row, in
// batches; with w, it writes each batch's valid rows.
func (s *Service) importPass(ctx context.Context, tx *store.Tx, kind string, src *importSource, w *importWriter) (*ImportReport, error) {
	if _, err := src.rewind(); err != nil {
		return nil, err
	}
	cr := csv.NewReader(bufio.NewReaderSize(src, 64<<10))
	cr.FieldsPerRecord = -1 // a short or long row is a rejected row, not the end of the file
	header, err := cr.Read()
	if err != nil {
		return nil, fulfill.Errorf(fulfill.EInvalid, "The file has no CSV header line.")
	}
	cols, withSub, err := importHeader(kind, header)
	if err != nil {
		return nil, err
	}
	v := s.newImportValidator(tx, kind, withSub, cols)
	rep := &ImportReport{Rejected: []RowError{}}
	batch := make([]importRecord, 0, importBatchSize)
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, err := v.batch(batch, rep)
		if err != nil {
			return err
		}
		batch = batch[:0]
		if w == nil {
			return nil
		}
		return s.writeImportBatch(tx, rows, w, rep)
	}
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rep.Rows++
			rep.Rejected = append(rep.Rejected, RowError{Line: pe.StartLine, Field: "-", Reason: "not valid CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue // a blank line
		}
		rep.Rows++
		if len(fields) != len(header) {
			rep.Rejected = append(rep.Rejected, RowError{Line: line, Field: "-",
				Reason: fmt.Sprintf("%d fields, the header has %d", len(fields), len(header))})
			continue
		}
		if rerr := badText(line, header, fields); rerr != nil {
			rep.Rejected = append(rep.Rejected, *rerr)
			continue
		}
		if batch = append(batch, importRecord{line, fields}); len(batch) == importBatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	sortRejected(rep.Rejected)
	return rep, nil
}

// importHeader maps column names to their index and checks that the file has
// the columns its kind needs and no others.
func importHeader(kind string, header []string) (map[string]int, bool, error) {
	allowed := map[string]bool{}
	for _, c := range subscriptionColumns {
		allowed[c] = true
	}
	switch kind {
	case ImportCustomers:
		for _, c := range customerColumns {
			allowed[c] = true
		}
	case ImportSubscriptions:
		for _, c := range subscriptionKeyColumns {
			allowed[c] = true
		}
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) // spreadsheets write a BOM
		if !allowed[h] {
			return nil, false, fulfill.Errorf(fulfill.EInvalid, "Unknown column %q in a %s file (see docs/import.md).", h, kind)
		}
		if _, dup := cols[h]; dup {
			return nil, false, fulfill.Errorf(fulfill.EInvalid, "Column %q appears twice.", h)
		}
		cols[h] = i
	}
	need := []string{"email", "name", "country"}
	if kind == ImportSubscriptions {
		need = []string{"plan", "seats", "starts_on"}
		if _, ok := cols["customer_email"]; !ok {
			if _, ok := cols["external_id"]; !ok {
				return nil, false, fulfill.Errorf(fulfill.EInvalid, "A subscriptions file needs a customer_email or an external_id column.")
			}
		}
	}
	_, withSub := cols["plan"]
	if withSub && kind == ImportCustomers {
		need = append(need, "seats", "starts_on")
	}
	for _, c := range need {
		if _, ok := cols[c]; !ok {
			return nil, false, fulfill.Errorf(fulfill.EInvalid, "The %s file has no %q column.", kind, c)
		}
	}
	return cols, withSub || kind == ImportSubscriptions, nil
}

// importValidator checks rows against the database and against the rows
// before them in the same file. What it knows of the database is looked up
// for each batch (lookup); what it knows of the file is one key per valid
// row.
type importValidator struct {
	s       *Service
	tx      *store.Tx
	kind    string
	withSub bool
	cols    map[string]int
	plans   map[string]*fulfill.Plan // by code; nil: no such plan
	// Of the batch: the customers its rows name, and their subscriptions.
	emails    map[string]*fulfill.Customer // lower-cased email → customer (nil when shared by several)
	externals map[string]*fulfill.Customer // external id → customer
	subs      map[string]bool              // store.SubscriptionKey
	nonASCII  []*fulfill.Customer          // customers whose email is not ASCII; nil: not read yet
	fileEmail map[string]int               // lower-cased email → line, within the file
	fileExt   map[string]int               // external id → line, within the file
	fileSub   map[string]int               // subscription key → line, within the file
	today     fulfill.Date
}

func (s *Service) newImportValidator(tx *store.Tx, kind string, withSub bool, cols map[string]int) *importValidator {
	return &importValidator{s: s, tx: tx, kind: kind, withSub: withSub, cols: cols, plans: map[string]*fulfill.Plan{},
		fileEmail: map[string]int{}, fileExt: map[string]int{}, fileSub: map[string]int{}, today: s.today()}
}

// getter reads a record's columns by name.
func (v *importValidator) getter(rec importRecord) func(string) string {
	return func(col string) string {
		if i, ok := v.cols[col]; ok {
			// Exports quote cells a spreadsheet would evaluate; an
			// export imports back as it was.
			return csvsafe.Unescape(strings.TrimSpace(rec.fields[i]))
		}
		return ""
	}
}

// batch validates a batch of records: the valid rows, in file order; each
// rejected row is added to rep.
func (v *importValidator) batch(recs []importRecord, rep *ImportReport) ([]importRow, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if err := v.lookup(recs); err != nil {
		return nil, err
	}
	rows := make([]importRow, 0, len(recs))
	for _, rec := range recs {
		row, rerr := v.row(v.kind, v.withSub, rec.line, v.getter(rec))
		if rerr != nil {
			rep.Rejected = append(rep.Rejected, *rerr)
			continue
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// customersByEmail maps those of emails (lower-cased) that customers have
// to the customer, nil when several share it, comparing as
// strings.ToLower does.
func (v *importValidator) customersByEmail(emails []string) (map[string]*fulfill.Customer, error) {
	found, err := v.tx.CustomersByEmail(emails)
	if err != nil {
		return nil, err
	}
	if v.nonASCII == nil {
		if v.nonASCII, err = v.tx.CustomersWithNonASCIIEmail(); err != nil {
			return nil, err
		}
	}
	want := make(map[string]bool, len(emails))
	for _, e := range emails {
		want[e] = true
	}
	m := map[string]*fulfill.Customer{}
	seen := map[string]bool{}
	for _, c := range slices.Concat(found, v.nonASCII) {
		email := strings.ToLower(c.Email)
		if !want[email] || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		if _, dup := m[email]; dup {
			c = nil
		}
		m[email] = c
	}
	return m, nil
}

// lookup reads what the database holds of the keys a batch names: the
// customers with its emails and external ids, and (for a subscriptions
// file) their subscriptions. One query each, whatever the batch's size.
func (v *importValidator) lookup(recs []importRecord) error {
	emailCol, extCol := "email", "external_id"
	if v.kind == ImportSubscriptions {
		emailCol = "customer_email"
	}
	var emails, exts []string
	for _, rec := range recs {
		get := v.getter(rec)
		if e := strings.ToLower(get(emailCol)); e != "" {
			emails = append(emails, e)
		}
		if x := get(extCol); x != "" {
			exts = append(exts, x)
		}
	}
	var err error
	if v.emails, err = v.customersByEmail(emails); err != nil {
		return err
	}
	if v.externals, err = v.tx.CustomersByExternalID(exts); err != nil {
		return err
	}
	v.subs = nil
	if v.kind != ImportSubscriptions {
		return nil // a customers file's subscriptions are for customers it creates
	}
	var ids []string
	for _, m := range []map[string]*fulfill.Customer{v.emails, v.externals} {
		for _, c := range m {
			if c != nil {
				ids = append(ids, c.ID)
			}
		}
	}
	v.subs, err = v.tx.SubscriptionKeysOf(ids)
	return err
}

// badText rejects a row with a field that is not valid UTF-8 or holds a
// NUL: no column takes either, and PostgreSQL refuses both.
func badText(line int, header, fields []string) *RowError {
	for i, f := range fields {
		if err := fulfill.CheckText(header[i], f, 0); err != nil {
			return rowErr(line, err)
		}
	}
	return nil
}

func rowErr(line int, err error) *RowError {
	var fe *fulfill.Error
	if errors.As(err, &fe) {
		return &RowError{Line: line, Field: or(fe.Field, "-"), Reason: fe.Message}
	}
	return &RowError{Line: line, Field: "-", Reason: err.Error()}
}

// row validates one row; the first problem found rejects it.
func (v *importValidator) row(kind string, withSub bool, line int, get func(string) string) (importRow, *RowError) {
	row := importRow{line: line}
	var custID, currency, email string
	if kind == ImportCustomers {
		c, err := newCustomer(CustomerInput{Email: get("email"), Name: get("name"), Company: get("company"),
			Address: get("address"), City: get("city"), PostalCode: get("postal_code"), Country: get("country"),
			TaxID: get("tax_id"), Currency: strings.ToUpper(get("currency"))}, v.s.now())
		if err != nil {
			return row, rowErr(line, err)
		}
		email = strings.ToLower(c.Email)
		if n, dup := v.fileEmail[email]; dup {
			return row, &RowError{line, "email", fmt.Sprintf("%s is also on line %d.", c.Email, n)}
		}
		if _, dup := v.emails[email]; dup {
			return row, &RowError{line, "email", fmt.Sprintf("A customer with email %s already exists.", c.Email)}
		}
		ext := get("external_id")
		if fulfill.TextLen(ext) > 200 {
			return row, &RowError{line, "external_id", "At most 200 characters."}
		}
		if ext != "" {
			if n, dup := v.fileExt[ext]; dup {
				return row, &RowError{line, "external_id", fmt.Sprintf("%q is also on line %d.", ext, n)}
			}
			if _, dup := v.externals[ext]; dup {
				return row, &RowError{line, "external_id", fmt.Sprintf("A customer with external id %q already exists.", ext)}
			}
		}
		row.customer, row.external = c, ext
		custID, currency = c.ID, c.Currency
	} else {
		cust, rerr := v.customerOf(line, get)
		if rerr != nil {
			return row, rerr
		}
		row.existing, custID, currency = cust, cust.ID, cust.Currency
	}
	if withSub && (kind == ImportSubscriptions || get("plan") != "") {
		sub, rerr := v.subscription(line, custID, currency, get)
		if rerr != nil {
			return row, rerr
		}
		key := store.SubscriptionKey(custID, sub.Plan, sub.StartsOn)
		if n, dup := v.fileSub[key]; dup {
			return row, &RowError{line, "plan", fmt.Sprintf("The same subscription (%s from %s) is also on line %d.", sub.Plan, sub.StartsOn, n)}
		}
		if v.subs[key] {
			return row, &RowError{line, "plan", fmt.Sprintf("The customer already has a %s subscription from %s.", sub.Plan, sub.StartsOn)}
		}
		if kind == ImportSubscriptions {
			// A customers file's subscriptions are each for the new
			// customer of its row: they cannot repeat one another.
			v.fileSub[strings.Clone(key)] = line
		}
		row.sub = sub
	}
	// Only a valid row claims its keys, so a rejected row never makes a
	// later good row look like a duplicate.
	// The keys are copied: a field shares the memory of its whole record.
	if row.customer != nil {
		v.fileEmail[strings.Clone(email)] = line
		if row.external != "" {
			v.fileExt[strings.Clone(row.external)] = line
		}
	}
	return row, nil
}

// customerOf finds the customer a subscriptions row names.
func (v *importValidator) customerOf(line int, get func(string) string) (*fulfill.Customer, *RowError) {
	if ext := get("external_id"); ext != "" {
		c, ok := v.externals[ext]
		if !ok {
			return nil, &RowError{line, "external_id", fmt.Sprintf("No customer was imported with external id %q.", ext)}
		}
		return c, nil
	}
	email := get("customer_email")
	if email == "" {
		return nil, &RowError{line, "customer_email", "A customer_email or an external_id is required."}
	}
	c, ok := v.emails[strings.ToLower(email)]
	switch {
	case !ok:
		return nil, &RowError{line, "customer_email", fmt.Sprintf("No customer with email %s.", email)}
	case c == nil:
		return nil, &RowError{line, "customer_email", fmt.Sprintf("Several customers have email %s; name the customer by external_id.", email)}
	}
	return c, nil
}

var importStates = map[string]bool{fulfill.StateActive: true, fulfill.StatePastDue: true, fulfill.StateCanceled: true, fulfill.StateExpired: true}

// subscription validates the subscription columns of a row.
func (v *importValidator) subscription(line int, custID, currency string, get func(string) string) (*fulfill.Subscription, *RowError) {
	fail := func(field, format string, args ...any) (*fulfill.Subscription, *RowError) {
		return nil, &RowError{line, field, fmt.Sprintf(format, args...)}
	}
	code := get("plan")
	if code == "" {
		return fail("plan", "A plan code is required.")
	}
	plan, seen := v.plans[code]
	if !seen {
		var err error
		if plan, err = v.tx.PlanByCode(code); err != nil {
			if fulfill.ErrorCode(err) != fulfill.ENotFound {
				return nil, rowErr(line, err)
			}
			plan = nil
		}
		v.plans[code] = plan
	}
	if plan == nil {
		return fail("plan", "No plan %q in the catalog.", code)
	}
	price, err := priceIn(plan, currency)
	if err != nil {
		return nil, rowErr(line, err)
	}
	seatsText := get("seats")
	if seatsText == "" {
		return fail("seats", "A seat count is required.")
	}
	seats, err := strconv.ParseInt(seatsText, 10, 64)
	if err != nil {
		return fail("seats", "%q is not a whole number.", seatsText)
	}
	if err := checkSeats(seats, "seats"); err != nil {
		return nil, rowErr(line, err)
	}
	startText := get("starts_on")
	if startText == "" {
		return fail("starts_on", "A start date (YYYY-MM-DD) is required.")
	}
	start, err := fulfill.ParseDate(startText)
	if err != nil {
		return fail("starts_on", "%s.", err)
	}
	end := fulfill.DateOf(billing.AddMonths(start.Time(), plan.TermMonths))
	if t := get("ends_on"); t != "" {
		if end, err = fulfill.ParseDate(t); err != nil {
			return fail("ends_on", "%s.", err)
		}
	}
	if !end.After(start) {
		return fail("ends_on", "ends_on %s is not after starts_on %s.", end, start)
	}
	if end.After(fulfill.DateOf(billing.AddMonths(start.Time(), 60))) {
		return fail("ends_on", "A term is at most 60 months; %s to %s is longer.", start, end)
	}
	if start.After(v.today.AddDays(365)) {
		return fail("starts_on", "starts_on may be at most a year ahead.")
	}
	state := strings.ToLower(get("state"))
	if state == "" {
		state = fulfill.StateActive
	}
	if !importStates[state] {
		return fail("state", "%q is not a state: want active, past_due, canceled or expired.", state)
	}
	ended := !v.today.Before(end)
	if state == fulfill.StateExpired && !ended {
		return fail("state", "An expired subscription must have ended (ends_on %s is after today, %s).", end, v.today)
	}
	if state != fulfill.StateExpired && ended {
		// Imported as running, it would be renewed and invoiced at once.
		return fail("ends_on", "The term ended on %s; import the subscription as expired, or with its current term.", end)
	}
	autoRenew, err := parseBool(get("auto_renew"), state == fulfill.StateActive || state == fulfill.StatePastDue)
	if err != nil {
		return fail("auto_renew", "%s.", err)
	}
	if autoRenew && (state == fulfill.StateCanceled || state == fulfill.StateExpired) {
		return fail("auto_renew", "A %s subscription does not renew automatically.", state)
	}
	qsr, err := parseBool(get("seat_reconciliation"), false)
	if err != nil {
		return fail("seat_reconciliation", "%s.", err)
	}
	ns := get("namespace")
	if ns != "" && !namespaceRE.MatchString(ns) {
		return fail("namespace", "A namespace is 1 to 255 letters, digits, '-', '_', '.' and '/'.")
	}
	if plan.Kind == fulfill.KindSaaS {
		ns = or(ns, custID)
	} else if ns != "" {
		return fail("namespace", "Plan %q is self-managed; only SaaS subscriptions have a namespace.", code)
	}
	now := v.s.now()
	return &fulfill.Subscription{ID: fulfill.NewID("sub"), CustomerID: custID, PlanID: plan.ID, Plan: plan.Code,
		PlanVersion: plan.Version, Kind: plan.Kind, State: state, Seats: seats, StartsOn: start, EndsOn: end,
		AutoRenew: autoRenew, Currency: currency, UnitAmount: price, PaymentMethod: PayByInvoice,
		SeatReconciliation: qsr, Namespace: ns, CreatedAt: now, UpdatedAt: now}, nil
}

func parseBool(s string, def bool) (bool, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// importWriter is what the writing pass of an import carries from batch
// to batch.
type importWriter struct {
	actor    Actor
	total    int // valid rows, as the first pass counted them
	done     int
	progress func(done, total int)
}

// writeImportBatch stores a batch of valid rows: a few statements for the
// whole batch (store.InsertImportBatch, EmitEvents).
func (s *Service) writeImportBatch(tx *store.Tx, rows []importRow, w *importWriter, rep *ImportReport) error {
	if len(rows) == 0 {
		return nil
	}
	now := s.now()
	b := &store.ImportBatch{Change: store.Change{Action: "import", Actor: string(w.actor), Reason: "imported", At: now}}
	var events []store.NewEvent
	var signer *license.Signer
	for _, row := range rows {
		cust := row.customer
		if cust != nil {
			b.Customers = append(b.Customers, cust)
			if row.external != "" {
				b.ExternalIDs = append(b.ExternalIDs, [2]string{cust.ID, row.external})
			}
			rep.Customers++
		} else {
			cust = row.existing
		}
		sub := row.sub
		if sub == nil {
			continue
		}
		b.Subscriptions = append(b.Subscriptions, sub)
		rep.Subscriptions++
		if sub.Kind != fulfill.KindSelfManaged || sub.State == fulfill.StateExpired {
			continue
		}
		plan, err := tx.PlanByID(sub.PlanID)
		if err != nil {
			return fmt.Errorf("line %d: %w", row.line, err)
		}
		// A new subscription has no add-ons. The customer already runs
		// the product under its old license: the new one waits in the
		// portal instead of arriving by email.
		if signer == nil {
			if s.Keys == nil {
				return fmt.Errorf("no license signing keys configured")
			}
			if signer, err = s.Keys.Signer(); err != nil {
				return err
			}
		}
		l, err := s.signLicense(sub, cust, planGrants(plan, []fulfill.SubscriptionAddOn{}), licenseTerms{reason: "import", signer: signer})
		if err != nil {
			return fmt.Errorf("line %d: %w", row.line, err)
		}
		sub.LicenseID = &l.ID
		b.Licenses = append(b.Licenses, l)
		events = append(events, store.NewEvent{SubjectID: l.ID, CustomerID: &cust.ID, Data: l})
		rep.Licenses++
	}
	if err := tx.InsertImportBatch(b); err != nil {
		return fmt.Errorf("lines %d to %d: %w", rows[0].line, rows[len(rows)-1].line, err)
	}
	if err := s.emitAll(tx, "license.issued", events); err != nil {
		return err
	}
	for range rows {
		w.done++
		if w.progress != nil {
			w.progress(w.done, w.total)
		}
	}
	return nil
}

// newCustomer validates a new customer (for CreateCustomer and imports) and fills
// in the same defaults: the contacts are the customer, the currency follows
// the country.
func newCustomer(in CustomerInput, now time.Time) (*fulfill.Customer, error) {
	in.Email = strings.TrimSpace(in.Email)
	if in.Email == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "email", "An email address is required.")
	}
	if !emailRE.MatchString(in.Email) || fulfill.TextLen(in.Email) > 254 {
		return nil, fulfill.FieldError(fulfill.EInvalid, "email", "%q is not an email address.", in.Email)
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, fulfill.FieldError(fulfill.ERequired, "name", "A name is required.")
	}
	for _, f := range []struct{ field, v string }{{"name", in.Name}, {"company", in.Company}, {"address", in.Address},
		{"city", in.City}, {"postal_code", in.PostalCode}, {"tax_id", in.TaxID},
		{"subscription_contact_name", in.ContactName}, {"billing_contact_name", in.BillingName}} {
		if fulfill.TextLen(f.v) > 200 {
			return nil, fulfill.FieldError(fulfill.EOutOfRange, f.field, "At most 200 characters.")
		}
	}
	var err error
	if in.Country, in.TaxID, err = checkCountryTaxID(in.Country, in.TaxID); err != nil {
		return nil, err
	}
	if in.Currency == "" {
		in.Currency = "USD"
		if billing.IsEU(in.Country) {
			in.Currency = "EUR"
		}
	}
	if billing.ValidateCurrency(in.Currency) != nil {
		return nil, fulfill.FieldError(fulfill.EInvalid, "currency", "%q is not an ISO 4217 currency code.", in.Currency)
	}
	for _, f := range []struct{ field, v string }{{"subscription_contact_email", in.ContactEmail}, {"billing_contact_email", in.BillingEmail}} {
		if f.v != "" && (!emailRE.MatchString(f.v) || fulfill.TextLen(f.v) > 254) {
			return nil, fulfill.FieldError(fulfill.EInvalid, f.field, "%q is not an email address.", f.v)
		}
	}
	return &fulfill.Customer{ID: fulfill.NewID("cus"), Email: in.Email, Name: strings.TrimSpace(in.Name), Company: in.Company,
		Address: in.Address, City: in.City, PostalCode: in.PostalCode, Country: in.Country, TaxID: strings.TrimSpace(in.TaxID),
		Currency: in.Currency, ContactName: or(in.ContactName, in.Name), ContactEmail: or(in.ContactEmail, in.Email),
		BillingName: or(in.BillingName, in.Name), BillingEmail: or(in.BillingEmail, in.Email), CreatedAt: now,
		TermsDays: InvoiceTermsDays}, nil
}

func sortRejected(rs []RowError) {
	slices.SortStableFunc(rs, func(a, b RowError) int { return a.Line - b.Line })
}
