package web

// RouteList names every API route as "METHOD /path", for the matrix test.
func RouteList() []string {
	var out []string
	for _, r := range apiRoutes(Deps{}) {
		out = append(out, r.method+" "+r.path)
	}
	return out
}
