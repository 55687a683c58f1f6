package etcdstore

// EncodePuts encodes puts as a large change's marker (large.go), for tests that leave one pending as a
// writer that died after committing it would.
func EncodePuts(puts map[string]string) []byte {
	w := make(map[string]pending, len(puts))
	for k, v := range puts {
		w[k] = pending{value: []byte(v)}
	}
	return encodeWrites(w)
}
