package commerce

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/billing"
	"github.com/fulfillhq/fulfill/internal/csvsafe"
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
	external string
	sub      *fulfill.Subscription
}

// Import migrates an existing customer base from a CSV file (see
// docs/import.md). Every row is validated; rejected rows are reported with
// their line and reason and the others are written in one transaction, so an
// error or a canceled context midway leaves nothing imported. Imported
// subscriptions are recorded as they stand: no invoice, no charge, a version
// entry "import", and a license (not emailed) for self-managed plans that
// have not expired.
func (s *Service) Import(ctx context.Context, kind string, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	if kind != ImportCustomers && kind != ImportSubscriptions {
		return nil, fulfill.Errorf(fulfill.EInvalid, "Import %q: want %q or %q.", kind, ImportCustomers, ImportSubscriptions)
	}
	if opts.Actor == "" {
		opts.Actor = System
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a short or long row is a rejected row, not the end of the file
	header, err := cr.Read()
	if err != nil {
		return nil, fulfill.Errorf(fulfill.EInvalid, "The file has no CSV header line.")
	}
	cols, withSub, err := importHeader(kind, header)
	if err != nil {
		return nil, err
	}
	type record struct {
		line   int
		fields []string
	}
	var records []record
	rep := &ImportReport{Rejected: []RowError{}}
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
		records = append(records, record{line, fields})
	}

	read := *rep // what parsing found; a rerun of the transaction starts from it
	read.Rejected = slices.Clone(rep.Rejected)
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		*rep = read
		rep.Rejected = slices.Clone(read.Rejected)
		v, err := s.newImportValidator(tx)
		if err != nil {
			return err
		}
		var rows []importRow
		for _, rec := range records {
			get := func(col string) string {
				if i, ok := cols[col]; ok {
					// Exports quote cells a spreadsheet would evaluate;
					// an export imports back as it was.
					return csvsafe.Unescape(strings.TrimSpace(rec.fields[i]))
				}
				return ""
			}
			row, rerr := v.row(kind, withSub, rec.line, get)
			if rerr != nil {
				rep.Rejected = append(rep.Rejected, *rerr)
				continue
			}
			rows = append(rows, row)
		}
		sortRejected(rep.Rejected)
		if opts.DryRun || (opts.AllOrNothing && len(rep.Rejected) > 0) {
			return nil
		}
		for i, row := range rows {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.writeImportRow(tx, row, opts.Actor, rep); err != nil {
				return fmt.Errorf("line %d: %w", row.line, err)
			}
			if opts.Progress != nil {
				opts.Progress(i+1, len(rows))
			}
		}
		rep.Imported = len(rows)
		return nil
	})
	if err != nil {
		return nil, err
	}
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
// before them in the same file.
type importValidator struct {
	s         *Service
	tx        *store.Tx
	plans     map[string]*fulfill.Plan // by code; nil: no such plan
	emails    map[string]string        // lower-cased email → customer id ("" when shared by several)
	externals map[string]string        // external id → customer id
	subs      map[string]bool          // store.SubscriptionKey
	currency  map[string]string        // customer id → currency, of customers created by this file
	fileEmail map[string]int           // lower-cased email → line, within the file
	fileExt   map[string]int           // external id → line, within the file
	fileSub   map[string]int           // subscription key → line, within the file
	today     fulfill.Date
}

func (s *Service) newImportValidator(tx *store.Tx) (*importValidator, error) {
	v := &importValidator{s: s, tx: tx, plans: map[string]*fulfill.Plan{}, currency: map[string]string{},
		fileEmail: map[string]int{}, fileExt: map[string]int{}, fileSub: map[string]int{}, today: s.today()}
	var err error
	if v.emails, err = tx.CustomerEmails(); err != nil {
		return nil, err
	}
	if v.externals, err = tx.ExternalIDs(); err != nil {
		return nil, err
	}
	if v.subs, err = tx.SubscriptionKeys(); err != nil {
		return nil, err
	}
	return v, nil
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
		var rerr *RowError
		if custID, rerr = v.customerOf(line, get); rerr != nil {
			return row, rerr
		}
		if currency = v.currency[custID]; currency == "" {
			cust, err := v.tx.Customer(custID)
			if err != nil {
				return row, rowErr(line, err)
			}
			currency, v.currency[custID] = cust.Currency, cust.Currency
		}
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
		v.fileSub[key] = line
		row.sub = sub
	}
	// Only a valid row claims its keys, so a rejected row never makes a
	// later good row look like a duplicate.
	if row.customer != nil {
		v.fileEmail[email] = line
		if row.external != "" {
			v.fileExt[row.external] = line
		}
	}
	return row, nil
}

// customerOf finds the customer a subscriptions row names.
func (v *importValidator) customerOf(line int, get func(string) string) (string, *RowError) {
	if ext := get("external_id"); ext != "" {
		id, ok := v.externals[ext]
		if !ok {
			return "", &RowError{line, "external_id", fmt.Sprintf("No customer was imported with external id %q.", ext)}
		}
		return id, nil
	}
	email := get("customer_email")
	if email == "" {
		return "", &RowError{line, "customer_email", "A customer_email or an external_id is required."}
	}
	id, ok := v.emails[strings.ToLower(email)]
	switch {
	case !ok:
		return "", &RowError{line, "customer_email", fmt.Sprintf("No customer with email %s.", email)}
	case id == "":
		return "", &RowError{line, "customer_email", fmt.Sprintf("Several customers have email %s; name the customer by external_id.", email)}
	}
	return id, nil
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

// writeImportRow stores one valid row.
func (s *Service) writeImportRow(tx *store.Tx, row importRow, actor Actor, rep *ImportReport) error {
	now := s.now()
	cust := row.customer
	if cust != nil {
		if err := tx.InsertCustomer(cust); err != nil {
			return err
		}
		if row.external != "" {
			if err := tx.InsertExternalID(cust.ID, row.external, now); err != nil {
				return err
			}
		}
		rep.Customers++
	}
	sub := row.sub
	if sub == nil {
		return nil
	}
	if err := tx.InsertSubscription(sub, store.Change{Action: "import", Actor: string(actor), Reason: "imported", At: now}); err != nil {
		return err
	}
	rep.Subscriptions++
	if sub.Kind != fulfill.KindSelfManaged || sub.State == fulfill.StateExpired {
		return nil
	}
	if cust == nil {
		var err error
		if cust, err = tx.Customer(sub.CustomerID); err != nil {
			return err
		}
	}
	// The customer already runs the product under its old license: the new
	// one waits in the portal instead of arriving by email.
	if _, err := s.issueLicense(tx, sub, cust, licenseTerms{reason: "import"}); err != nil {
		return err
	}
	rep.Licenses++
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
