package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/internal/dbtest"
)

// The fuzz pass sends every route of the OpenAPI document bad bytes (NUL,
// invalid UTF-8), huge strings, wrong types and nulls, in every documented
// field, path parameter and query parameter, with the vendor token and
// without. Nothing may answer 5xx, and bad bytes are always refused with
// 400 or 422, on both databases.
//
// The systematic cases (each documented input times each mutation) always
// run; on top of them come random combinations from a seeded generator:
// FULFILL_FUZZ_SEED picks the seed (printed), FULFILL_FUZZ_CASES how many.
const (
	fuzzSeedEnv  = "FULFILL_FUZZ_SEED"
	fuzzCasesEnv = "FULFILL_FUZZ_CASES"
)

func TestFuzzEveryAPIRouteNeverAnswers5xx(t *testing.T) {
	t.Parallel()
	seed := uint64(20260101)
	if s := os.Getenv(fuzzSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", fuzzSeedEnv, s, err)
		}
		seed = n
	}
	extra := 300
	if s := os.Getenv(fuzzCasesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("%s=%q: want a whole number", fuzzCasesEnv, s)
		}
		extra = n
	}
	t.Logf("fuzz seed %d (%s), %d random cases (%s)", seed, fuzzSeedEnv, extra, fuzzCasesEnv)
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		t.Parallel()
		e := newEnv(t, dbURL, "2026-01-01")
		fx := newFuzzFixtures(e)
		ops := fuzzOperations(t, e)
		cases := systematicCases(ops, fx)
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		for range extra {
			cases = append(cases, randomCase(rng, ops, fx))
		}
		start := time.Now()
		var failures []string
		statuses, kinds := map[int]int{}, map[string]int{}
		for _, c := range cases {
			for _, auth := range []bool{true, false} {
				status, body := fx.send(c, auth)
				statuses[status]++
				if msg := c.check(status, auth); msg != "" {
					kinds[msg]++
					failures = append(failures, fmt.Sprintf("%s [%s, token=%v]: %d %s: %.200s", c.name, c.what, auth, status, msg, strings.Join(strings.Fields(body), " ")))
				}
			}
		}
		t.Logf("%d cases, %d requests in %v; statuses %v", len(cases), 2*len(cases), time.Since(start).Round(time.Millisecond), statuses)
		if n := len(failures); n > 0 {
			sort.Strings(failures)
			if n > 100 && os.Getenv("FUZZ_ALL") == "" {
				failures = append(failures[:100], fmt.Sprintf("... and %d more", n-100))
			}
			t.Fatalf("%d requests failed the fuzz pass (seed %d): %v\n%s", n, seed, kinds, strings.Join(failures, "\n"))
		}
	})
}

// fuzzOp is one documented operation.
type fuzzOp struct {
	method, path string
	pathParams   []string
	query        []fuzzParam
	body         map[string]any // the request body's schema, $refs resolved; nil without one
	idempotent   bool
}

type fuzzParam struct {
	name   string
	schema map[string]any
}

// fuzzOperations reads the served OpenAPI document: every route is in it
// (TestOpenAPIRoutes checks that), so walking it covers every route.
func fuzzOperations(t *testing.T, e *env) []fuzzOp {
	t.Helper()
	var doc map[string]any
	e.must(200, "GET", "/api/v1/openapi.json", nil, &doc)
	resolve := func(v any) map[string]any { return resolveRefs(doc, v).(map[string]any) }
	var ops []fuzzOp
	for path, item := range doc["paths"].(map[string]any) {
		for method, raw := range item.(map[string]any) {
			op, ok := raw.(map[string]any)
			if !ok || method == "parameters" {
				continue
			}
			fo := fuzzOp{method: strings.ToUpper(method), path: path}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := resolve(p)
				name, _ := p["name"].(string)
				schema, _ := p["schema"].(map[string]any)
				switch p["in"] {
				case "path":
					fo.pathParams = append(fo.pathParams, name)
				case "query":
					fo.query = append(fo.query, fuzzParam{name, schema})
				case "header":
					fo.idempotent = fo.idempotent || name == "Idempotency-Key"
				}
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				if js, ok := rb["content"].(map[string]any)["application/json"].(map[string]any); ok {
					fo.body = resolve(js["schema"])
				}
			}
			ops = append(ops, fo)
		}
	}
	if len(ops) < 50 {
		t.Fatalf("only %d operations in the OpenAPI document; the walk is broken", len(ops))
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

func resolveRefs(doc map[string]any, v any) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			var cur any = doc
			for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cur = cur.(map[string]any)[tok]
			}
			return resolveRefs(doc, cur)
		}
		out := map[string]any{}
		for k, c := range v {
			out[k] = resolveRefs(doc, c)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, c := range v {
			out[i] = resolveRefs(doc, c)
		}
		return out
	}
	return v
}

// fuzzFixtures are real objects, so that a mutated field reaches as deep
// into the server as it can when the other fields are valid.
type fuzzFixtures struct {
	e                                 *env
	customer, sub, invoice, code, lic string
	client                            *http.Client
	n                                 int
}

func newFuzzFixtures(e *env) *fuzzFixtures {
	e.t.Helper()
	cus := e.customer("US", "")
	var p purchase
	e.must(201, "POST", "/api/v1/subscriptions", map[string]any{"customer_id": cus, "plan": "sm-premium", "seats": 10,
		"payment_method": "invoice"}, &p)
	code := ""
	if p.ActivationCode != nil {
		code = *p.ActivationCode
	}
	_, lic := e.text("/api/v1/subscriptions/" + p.Subscription.ID + "/license")
	return &fuzzFixtures{e: e, customer: cus, sub: p.Subscription.ID, invoice: p.Invoice.ID, code: code, lic: lic,
		client: &http.Client{Timeout: 30 * time.Second}}
}

// pathID is a real id for the {id} of a path, by what it names.
func (fx *fuzzFixtures) pathID(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/v1/customers/"):
		return fx.customer
	case strings.HasPrefix(path, "/api/v1/subscriptions/"):
		return fx.sub
	case strings.HasPrefix(path, "/api/v1/invoices/"):
		return fx.invoice
	}
	return "x_nothing"
}

// sample is a valid-looking value for a schema; field names the fixtures
// know get real values.
func (fx *fuzzFixtures) sample(name string, s map[string]any) any {
	switch name {
	case "customer_id":
		return fx.customer
	case "subscription_id":
		return fx.sub
	case "plan":
		return "sm-premium"
	case "payment_method":
		return "invoice"
	case "activation_code":
		return fx.code
	case "license_key":
		return fx.lic
	case "country":
		return "US"
	case "currency":
		return "USD"
	case "events":
		return []any{"*"}
	case "url":
		return "http://127.0.0.1:1/hook"
	}
	for _, k := range []string{"const", "default"} {
		if v, ok := s[k]; ok {
			return v
		}
	}
	for _, k := range []string{"examples", "enum"} {
		if v, ok := s[k].([]any); ok && len(v) > 0 {
			return v[0]
		}
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "string":
		switch s["format"] {
		case "date":
			return "2026-01-01"
		case "date-time":
			return "2026-01-01T00:00:00Z"
		case "email":
			return "fuzz@example.com"
		}
		return "x"
	case "integer", "number":
		if m, ok := s["minimum"].(float64); ok && m > 1 {
			return m
		}
		return 1
	case "boolean":
		return false
	case "array":
		items, _ := s["items"].(map[string]any)
		return []any{fx.sample("", items)}
	}
	obj := map[string]any{}
	props, _ := s["properties"].(map[string]any)
	for k, ps := range props {
		obj[k] = fx.sample(k, ps.(map[string]any))
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok && len(props) == 0 {
		obj["USD"] = fx.sample("", ap)
	}
	return obj
}

// mutation is one bad value; raw is spliced into the JSON body verbatim.
type mutation struct {
	what     string
	raw      string // JSON text of the value
	str      string // the value as a string, for paths, queries and headers
	badBytes bool   // must be refused (400/422)
}

var (
	hugeASCII  = strings.Repeat("x", 3000)
	hugeRunes  = strings.Repeat("é", 300)
	giantRunes = strings.Repeat("ü", 100000)
)

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

var valueMutations = []mutation{
	{what: "NUL escape", raw: `"a\u0000b"`, badBytes: true},
	{what: "only NUL", raw: `"\u0000"`, badBytes: true},
	{what: "raw NUL", raw: "\"a\x00b\"", badBytes: true},
	{what: "invalid UTF-8", raw: "\"a\xffb\"", badBytes: true},
	{what: "truncated UTF-8", raw: "\"abc\xc3\"", badBytes: true},
	{what: "overlong UTF-8", raw: "\"\xc0\xaf\"", badBytes: true},
	{what: "UTF-16 surrogate as UTF-8", raw: "\"\xed\xa0\x80\"", badBytes: true},
	{what: "lone surrogate escape", raw: `"\ud800"`},
	{what: "huge ASCII", raw: jsonString(hugeASCII)},
	{what: "300 two-byte characters", raw: jsonString(hugeRunes)},
	{what: "giant string", raw: jsonString(giantRunes)},
	{what: "empty string", raw: `""`},
	{what: "null", raw: `null`},
	{what: "number", raw: `12345`},
	{what: "negative", raw: `-1`},
	{what: "fraction", raw: `1.5`},
	{what: "beyond int64", raw: `1e30`},
	{what: "true", raw: `true`},
	{what: "object", raw: `{"a":1}`},
	{what: "array", raw: `["\u0000"]`, badBytes: true},
	{what: "string", raw: `"12"`},
}

var paramMutations = []mutation{
	{what: "NUL", str: "a\x00b", badBytes: true},
	{what: "invalid UTF-8", str: "a\xffb", badBytes: true},
	{what: "overlong UTF-8", str: "\xc0\xaf", badBytes: true},
	{what: "huge ASCII", str: hugeASCII},
	{what: "300 two-byte characters", str: hugeRunes},
	{what: "wrong type", str: "-1.5e99"},
	{what: "empty", str: ""},
}

// fuzzCase is one request.
type fuzzCase struct {
	name, what string
	method     string
	path       string // escaped, with the query
	body       []byte
	header     [2]string
	badBytes   bool
}

// check says what is wrong with an answer, "" when nothing is.
func (c fuzzCase) check(status int, auth bool) string {
	switch {
	case status == 0:
		return "no answer"
	case status >= 500:
		return "server error"
	case c.badBytes && status < 400:
		return "bad bytes accepted"
	case c.badBytes && auth && status != 400 && status != 422:
		return "bad bytes not refused with 400 or 422"
	}
	return ""
}

// build makes a request of op with one input replaced (or none).
type override struct {
	body   map[string]string // JSON path → raw JSON value
	path   map[string]string
	query  map[string]string
	header [2]string
	// rawBody replaces the whole body.
	rawBody *string
}

func (fx *fuzzFixtures) build(op fuzzOp, o override) (string, []byte) {
	path := op.path
	for _, p := range op.pathParams {
		v, ok := o.path[p]
		if !ok {
			v = fx.pathID(op.path)
		}
		path = strings.ReplaceAll(path, "{"+p+"}", url.PathEscape(v))
	}
	q := url.Values{}
	for name, v := range o.query {
		q.Set(name, v)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if o.rawBody != nil {
		return path, []byte(*o.rawBody)
	}
	if op.body == nil {
		return path, nil
	}
	base := fx.sample("", op.body)
	const mark = "\x01fuzz-%d\x01"
	var raws []string
	jps := make([]string, 0, len(o.body))
	for jp := range o.body {
		jps = append(jps, jp)
	}
	sort.Strings(jps)
	for _, jp := range jps {
		setPath(base, strings.Split(jp, "."), fmt.Sprintf(mark, len(raws)))
		raws = append(raws, o.body[jp])
	}
	b, err := json.Marshal(base)
	if err != nil {
		panic(err)
	}
	for i, raw := range raws {
		b = bytes.Replace(b, []byte(jsonString(fmt.Sprintf(mark, i))), []byte(raw), 1)
	}
	return path, b
}

// setPath sets the value at a dotted path of object keys and "0" for the
// first array element.
func setPath(v any, keys []string, val any) {
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := v.(type) {
		case map[string]any:
			if last {
				c[k] = val
				return
			}
			v = c[k]
		case []any:
			if len(c) == 0 {
				return
			}
			if last {
				c[0] = val
				return
			}
			v = c[0]
		default:
			return
		}
	}
}

// fieldPaths lists every key of a sample body, at any depth.
func fieldPaths(v any, prefix string) []string {
	var out []string
	switch c := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := prefix + k
			out = append(out, p)
			out = append(out, fieldPaths(c[k], p+".")...)
		}
	case []any:
		if len(c) > 0 {
			out = append(out, prefix+"0")
			out = append(out, fieldPaths(c[0], prefix+"0.")...)
		}
	}
	return out
}

func (fx *fuzzFixtures) newCase(op fuzzOp, what string, o override, bad bool) fuzzCase {
	path, body := fx.build(op, o)
	return fuzzCase{name: op.method + " " + op.path, what: what, method: op.method, path: path, body: body, header: o.header, badBytes: bad}
}

var wholeBodies = []mutation{
	{what: "body null", raw: `null`},
	{what: "body array", raw: `[]`},
	{what: "body string", raw: `"\u0000"`, badBytes: true},
	{what: "body number", raw: `1`},
	{what: "body invalid UTF-8 key", raw: "{\"\xff\":1}", badBytes: true},
	{what: "body NUL key", raw: `{"a\u0000":1}`, badBytes: true},
	{what: "body raw NUL outside strings", raw: "{\x00}", badBytes: true},
	{what: "body invalid UTF-8 outside strings", raw: "\xff{}", badBytes: true},
}

// systematicCases mutates each documented input of each operation once
// with each mutation.
func systematicCases(ops []fuzzOp, fx *fuzzFixtures) []fuzzCase {
	var cs []fuzzCase
	for _, op := range ops {
		cs = append(cs, fx.newCase(op, "valid", override{}, false))
		for _, p := range op.pathParams {
			for _, m := range paramMutations {
				cs = append(cs, fx.newCase(op, "path "+p+": "+m.what, override{path: map[string]string{p: m.str}}, m.badBytes))
			}
		}
		for _, q := range op.query {
			for _, m := range paramMutations {
				cs = append(cs, fx.newCase(op, "query "+q.name+": "+m.what, override{query: map[string]string{q.name: m.str}}, m.badBytes))
			}
		}
		if op.idempotent {
			for _, m := range paramMutations[1:] { // a NUL cannot travel in a header
				cs = append(cs, fx.newCase(op, "Idempotency-Key: "+m.what, override{header: [2]string{"Idempotency-Key", m.str}}, m.badBytes))
			}
		}
		if op.body == nil {
			continue
		}
		for _, m := range wholeBodies {
			raw := m.raw
			cs = append(cs, fx.newCase(op, m.what, override{rawBody: &raw}, m.badBytes))
		}
		for _, f := range fieldPaths(fx.sample("", op.body), "") {
			for _, m := range valueMutations {
				cs = append(cs, fx.newCase(op, "field "+f+": "+m.what, override{body: map[string]string{f: m.raw}}, m.badBytes))
			}
		}
	}
	return cs
}

// randomCase mutates up to three inputs of a random operation at once.
func randomCase(rng *rand.Rand, ops []fuzzOp, fx *fuzzFixtures) fuzzCase {
	op := ops[rng.IntN(len(ops))]
	o := override{body: map[string]string{}, path: map[string]string{}, query: map[string]string{}}
	picked := map[string]mutation{} // by input: a later pick replaces an earlier one
	fields := fieldPaths(fx.sample("", op.body), "")
	for n := 1 + rng.IntN(3); n > 0; n-- {
		switch k := rng.IntN(3); {
		case k == 0 && len(fields) > 0:
			f, m := fields[rng.IntN(len(fields))], valueMutations[rng.IntN(len(valueMutations))]
			if nested(o.body, f) {
				continue // one of them would hide the other
			}
			o.body[f], picked["field "+f] = m.raw, m
		case k == 1 && len(op.query) > 0:
			q, m := op.query[rng.IntN(len(op.query))], paramMutations[rng.IntN(len(paramMutations))]
			o.query[q.name], picked["query "+q.name] = m.str, m
		case len(op.pathParams) > 0:
			p, m := op.pathParams[rng.IntN(len(op.pathParams))], paramMutations[rng.IntN(len(paramMutations))]
			o.path[p], picked["path "+p] = m.str, m
		}
	}
	var whats []string
	bad := false
	for in, m := range picked {
		whats, bad = append(whats, in+": "+m.what), bad || m.badBytes
	}
	for _, v := range o.path {
		if v == "" {
			bad = false // no route takes an empty path segment: the request reads nothing
		}
	}
	sort.Strings(whats)
	return fx.newCase(op, "random: "+strings.Join(whats, "; "), o, bad)
}

// nested reports whether f is inside, or holds, a field already in body.
func nested(body map[string]string, f string) bool {
	for g := range body {
		if g != f && (strings.HasPrefix(f, g+".") || strings.HasPrefix(g, f+".")) {
			return true
		}
	}
	return false
}

// send sends c and returns the status and the start of the answer.
func (fx *fuzzFixtures) send(c fuzzCase, auth bool) (int, string) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, fx.e.srv.URL+c.path, body)
	if err != nil {
		return 0, err.Error()
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.header[0] != "" {
		fx.n++
		// Unique keys: a replay of an earlier answer is not what is tested.
		req.Header.Set(c.header[0], c.header[1]+strconv.Itoa(fx.n))
	}
	resp, err := fx.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // all of it: a body left unread cancels the request
	return resp.StatusCode, string(b[:min(len(b), 1000)])
}
