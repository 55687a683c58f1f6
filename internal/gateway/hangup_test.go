package gateway_test

import "testing"

// A client that sends only commands moat answers itself, then ends its input (printf … | nc), gets every
// reply before the close, however the reader's wake-up of the pump and the backend's end (moat half-closes
// the backend when the client does) race. Many short connections, because the race is narrow.
func TestLocalRepliesBeforeHangUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, renamed(t, `CONFIG CFG`))
	script := cmd("CONFIG", "GET", "maxmemory") + cmd("config", "get", "maxmemory") + cmd("CoNfIg")
	want := "-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory' \r\n" +
		"-ERR unknown command 'config', with args beginning with: 'get' 'maxmemory' \r\n" +
		"-ERR unknown command 'CoNfIg', with args beginning with: \r\n"
	for i := range 300 {
		got, err := transcript(t, e.addr, "127.0.0.2", script)
		if err != nil || got != want {
			t.Fatalf("connection %d: got %q, %v; want %q", i, got, err, want)
		}
	}
}
