package api

// GitLab's client (ee/lib/gitlab/subscription_portal/client.rb) reads a
// refused request's body["errors"] and body["error_attribute_map"]; the
// instance endpoints answer them beside Fulfill's own error object.

// instanceEndpoint reports whether path is one an instance calls.
func instanceEndpoint(path string) bool {
	switch path {
	case "/api/v1/activations", "/api/v1/seat_links", "/api/v1/usage_data", "/api/v1/usage_files", "/usage_data":
		return true
	}
	return false
}

// gitlabErrors is an error in GitLab's shape: the list of messages and, for
// an error about a field, that field mapped to its error codes.
func gitlabErrors(code, message, field string) ([]string, map[string][]string) {
	m := map[string][]string{}
	if field != "" {
		m[field] = []string{code}
	}
	return []string{message}, m
}
