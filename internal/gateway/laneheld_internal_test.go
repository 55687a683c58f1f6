package gateway

import (
	"testing"
	"time"
)

// A lane is held up (laneheld.go) when it owes replies and either has read none for heldAfter or a
// reply longer than inboxLimit is passing, however fast it flows: a command sent behind such a reply
// would wait for all of it. A lane that owes nothing is never held up.
func TestLaneHeld(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name    string
		owed    int64
		idle    time.Duration // since the last reply read
		passing bool
		want    bool
	}{
		{"owes nothing", 0, time.Hour, true, false},
		{"reading", 3, time.Millisecond, false, false},
		{"silent past heldAfter", 3, 2 * heldAfter, false, true},
		{"a long reply passing", 1, time.Millisecond, true, true},
	} {
		var l lane
		l.owed.Store(c.owed)
		l.since.Store(now.Add(-c.idle).UnixNano())
		l.passing.Store(c.passing)
		if got := l.held(now); got != c.want {
			t.Errorf("%s: held = %v, want %v", c.name, got, c.want)
		}
	}
}

// An idle overflow lane stays while another lane of its pool is held up (anyHeld): the sessions that
// leave that lane would otherwise dial one while the backend is busy.
func TestAnyHeld(t *testing.T) {
	var p lanePool
	idle, held := &lane{pool: &p}, &lane{pool: &p}
	held.owed.Store(1)
	held.since.Store(time.Now().UnixNano()) // read a moment ago: held up only by the long reply
	held.passing.Store(true)
	p.slots[0].l, p.slots[2].l = idle, held
	if !p.anyHeld(idle) {
		t.Errorf("anyHeld(idle lane) = false while another lane of the pool is held up")
	}
	if p.anyHeld(held) {
		t.Errorf("anyHeld(held lane) = true: no other lane is held up")
	}
	held.passing.Store(false)
	if p.anyHeld(idle) {
		t.Errorf("anyHeld = true once the long reply has passed")
	}
}
