package api

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// openAPIMethods are the keys of an OpenAPI path item that name operations.
var openAPIMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

type openAPIOperation struct {
	OperationID string           `json:"operationId"`
	Summary     string           `json:"summary"`
	Security    *json.RawMessage `json:"security"`
	Parameters  []map[string]any `json:"parameters"`
}

// parseOpenAPI reads the embedded document into its raw form and its
// operations, keyed by path and lower-case method.
func parseOpenAPI(t *testing.T) (map[string]any, map[string]map[string]openAPIOperation) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(openAPIDoc, &raw); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json paths: %v", err)
	}
	ops := map[string]map[string]openAPIOperation{}
	for path, item := range doc.Paths {
		ops[path] = map[string]openAPIOperation{}
		for method, body := range item {
			if !openAPIMethods[method] {
				continue // "parameters", "summary", "$ref" and the like
			}
			var op openAPIOperation
			if err := json.Unmarshal(body, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[path][method] = op
		}
	}
	return raw, ops
}

func TestOpenAPIVersion(t *testing.T) {
	t.Parallel()
	raw, _ := parseOpenAPI(t)
	if v, _ := raw["openapi"].(string); v != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", v)
	}
	info, _ := raw["info"].(map[string]any)
	if info["title"] != "Fulfill API" || info["version"] != "1.0.0" {
		t.Errorf("info = %v, want title Fulfill API, version 1.0.0", info)
	}
}

// TestOpenAPIRoutes checks that every route of the server is documented,
// with the right security and Idempotency-Key parameter.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	_, ops := parseOpenAPI(t)
	for _, rt := range (&Server{}).routes() {
		method := strings.ToLower(rt.Method)
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			op, ok := ops[rt.Path][method]
			if !ok {
				t.Fatalf("openapi.json has no paths[%q].%s; document the route", rt.Path, method)
			}
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("operation needs an operationId and a summary (got %q, %q)", op.OperationID, op.Summary)
			}
			public := op.Security != nil && strings.TrimSpace(string(*op.Security)) == "[]"
			if rt.Auth == public {
				t.Errorf("route Auth=%v but the operation is documented as public=%v", rt.Auth, public)
			}
			if got := hasIdempotencyKey(op); got != rt.Idempotent {
				t.Errorf("route Idempotent=%v but Idempotency-Key parameter documented=%v", rt.Idempotent, got)
			}
		})
	}
}

func hasIdempotencyKey(op openAPIOperation) bool {
	for _, p := range op.Parameters {
		if p["$ref"] == "#/components/parameters/IdempotencyKey" ||
			(p["name"] == "Idempotency-Key" && p["in"] == "header") {
			return true
		}
	}
	return false
}

// TestOpenAPINoExtraOperations checks the other direction: nothing is
// documented that the server does not serve.
func TestOpenAPINoExtraOperations(t *testing.T) {
	t.Parallel()
	_, ops := parseOpenAPI(t)
	served := map[string]bool{}
	for _, rt := range (&Server{}).routes() {
		served[strings.ToLower(rt.Method)+" "+rt.Path] = true
	}
	var extra []string
	for path, item := range ops {
		for method := range item {
			if !served[method+" "+path] {
				extra = append(extra, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Fatalf("openapi.json documents operations with no route: %v", extra)
	}
}

func TestOpenAPIOperationIDsUnique(t *testing.T) {
	t.Parallel()
	_, ops := parseOpenAPI(t)
	seen := map[string]string{}
	for path, item := range ops {
		for method, op := range item {
			where := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
				continue
			}
			if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("operationId %q is used by %s and %s", op.OperationID, prev, where)
			}
			seen[op.OperationID] = where
		}
	}
}

// TestOpenAPIRefsResolve checks that every local $ref points at something
// that exists in the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	raw, _ := parseOpenAPI(t)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(raw)
	if len(refs) == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("$ref %q: only local references to #/components/... are allowed", ref)
			continue
		}
		var cur any = raw
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			tok, err := url.PathUnescape(tok)
			if err != nil {
				t.Errorf("$ref %q: %v", ref, err)
				break
			}
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[tok]
		}
		if cur == nil {
			t.Errorf("$ref %q does not resolve", ref)
		}
	}
}
