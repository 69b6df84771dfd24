package api

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// openAPI is the part of the document the tests check.
type openAPI struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
		Parameters map[string]openAPIParam `json:"parameters"`
	} `json:"components"`
	Security []map[string][]string `json:"security"`
}

type openAPIOp struct {
	OperationID string                     `json:"operationId"`
	Role        string                     `json:"x-farmwatch-role"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []openAPIParam             `json:"parameters"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

type openAPIParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

func loadOpenAPI(t *testing.T) openAPI {
	t.Helper()
	if !json.Valid(openAPIDoc) {
		t.Fatal("openapi.json is not valid JSON")
	}
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	bearerS, basicS := doc.Components.SecuritySchemes["bearerAuth"], doc.Components.SecuritySchemes["basicAuth"]
	if bearerS.Type != "http" || bearerS.Scheme != "bearer" || basicS.Type != "http" || basicS.Scheme != "basic" {
		t.Errorf("security schemes %+v", doc.Components.SecuritySchemes)
	}
	if len(doc.Security) != 2 {
		t.Errorf("default security %v, want bearer or basic", doc.Security)
	}

	// Every $ref points at something in the document.
	var whole any
	_ = json.Unmarshal(openAPIDoc, &whole)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolves(whole, ref) {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(whole)

	// The document is served, unauthenticated, byte for byte.
	rec := httptest.NewRecorder()
	newServer(Options{}).handler.ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/openapi.json", nil))
	if rec.Code != 200 || rec.Body.String() != string(openAPIDoc) {
		t.Fatalf("GET openapi.json: %d", rec.Code)
	}
}

// resolves reports whether the local JSON pointer ref exists in doc.
func resolves(doc any, ref string) bool {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := doc
	for _, part := range strings.Split(p, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// TestOpenAPICoversRoutes walks the routes the mux serves and the
// document's paths: each must have the other, with the same role, query
// parameters, path parameters and error answers.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	s := newServer(Options{})

	// which asks the mux which pattern serves method on a concrete path.
	which := func(method, path string) string {
		concrete := pathParam.ReplaceAllString(path, "1")
		_, pattern := s.mux.Handler(httptest.NewRequest(method, concrete, nil))
		return pattern
	}

	served := map[string]route{}
	for _, rt := range s.routes {
		if got := which(rt.method, Prefix+rt.path); got != rt.pattern() {
			t.Errorf("route %s: the mux serves it with %q", rt.pattern(), got)
		}
		served[rt.pattern()] = rt
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			rt, ok := served[key]
			if !ok {
				t.Errorf("documented %s is not a route (the mux serves it with %q)", key, which(strings.ToUpper(method), path))
				continue
			}
			checkOp(t, doc, key, rt, op)
		}
	}
	for key := range served {
		if !documented[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
}

func checkOp(t *testing.T, doc openAPI, key string, rt route, op openAPIOp) {
	t.Helper()
	if op.OperationID == "" {
		t.Errorf("%s: no operationId", key)
	}
	role := string(rt.need)
	if rt.need == "" {
		role = "public"
		if op.Security == nil || len(*op.Security) != 0 {
			t.Errorf("%s: public route without security: []", key)
		}
	} else if op.Security != nil {
		t.Errorf("%s: overrides the default security", key)
	}
	if op.Role != role {
		t.Errorf("%s: x-farmwatch-role %q, route needs %q", key, op.Role, role)
	}

	var query, path []string
	for _, p := range op.Parameters {
		if p.Ref != "" {
			p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
		}
		switch p.In {
		case "query":
			query = append(query, p.Name)
		case "path":
			path = append(path, p.Name)
		default:
			t.Errorf("%s: parameter %q in %q", key, p.Name, p.In)
		}
	}
	sort.Strings(query)
	wantQ := rt.params()
	sort.Strings(wantQ)
	if !slices.Equal(query, wantQ) {
		t.Errorf("%s: documented query parameters %v, route takes %v", key, query, wantQ)
	}
	var wantP []string
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		wantP = append(wantP, m[1])
	}
	if !slices.Equal(path, wantP) {
		t.Errorf("%s: documented path parameters %v, path has %v", key, path, wantP)
	}

	codes := []string{"500"}
	if rt.need != "" {
		codes = append(codes, "401", "403", "429")
	}
	if len(query) > 0 || len(path) > 0 || op.RequestBody != nil {
		codes = append(codes, "400")
	}
	if len(path) > 0 {
		codes = append(codes, "404")
	}
	if op.RequestBody != nil {
		codes = append(codes, "413", "415")
	}
	for _, c := range codes {
		if op.Responses[c] == nil {
			t.Errorf("%s: no %s answer documented", key, c)
		}
	}
	ok := false
	for c := range op.Responses {
		ok = ok || strings.HasPrefix(c, "2")
	}
	if !ok {
		t.Errorf("%s: no success answer documented", key)
	}
}
