package web

// RouteList names every API route as "METHOD /path", for the matrix test.
func RouteList() []string {
	var out []string
	for _, r := range apiRoutes(Deps{}) {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// RouteBodyLimits is the body limit of every API route that reads a body (one that
// documents its body, or declares a limit of its own), by "METHOD /path".
func RouteBodyLimits() map[string]int64 {
	out := map[string]int64{}
	for _, r := range apiRoutes(Deps{}) {
		if r.in != nil || r.maxBody > 0 {
			out[r.method+" "+r.path] = r.bodyLimit()
		}
	}
	return out
}

// LocalPath is the check of a redirect target taken from input.
var LocalPath = localPath

// AnonymousSample is how many anonymous denials a network has audited at once.
const AnonymousSample = anonAuditBurst

// StatusOf is the HTTP status of each error code.
var StatusOf = statusOf

// Thumbnailable and ProgressiveJPEG are the upload's guards against decompression
// bombs, for their own test.
var (
	Thumbnailable   = thumbnailable
	ProgressiveJPEG = progressiveJPEG
)
