package server

// apiShareOfFiles is the part of the open-file limit the HTTP listeners may hold: the API's connection
// cap is at most limit/apiShareOfFiles, so that at least the rest (three quarters) stays for the data
// plane's listeners, their clients, backend connections and moat's own files, whatever the API's
// clients do.
const apiShareOfFiles = 4

// metricsMaxConns caps the metrics listener's connections (it has its own count, so an API flood does
// not reach it).
const metricsMaxConns = 64

// connCap returns the API listener's total connection cap: the configured one, lowered to
// limit/apiShareOfFiles when the open-file limit is known (limit > 0), and at least 1.
func connCap(configured int, limit uint64) int {
	if limit > 0 && uint64(configured) > limit/apiShareOfFiles {
		return max(1, int(limit/apiShareOfFiles))
	}
	return configured
}
