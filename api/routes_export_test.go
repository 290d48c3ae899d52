package api

// RouteInfo is one route of the API's table, for the tests of package
// api_test.
type RouteInfo struct {
	Method, Path string
	Auth         bool
}

// RouteTable is the API's route table (the one the OpenAPI test checks).
func RouteTable() []RouteInfo {
	var out []RouteInfo
	for _, rt := range (&Server{}).routes() {
		out = append(out, RouteInfo{rt.Method, rt.Path, rt.Auth})
	}
	return out
}
