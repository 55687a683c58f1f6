package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// NonceJournal keeps the signature nonces of accepted API calls in the store (sign.Journal), so that a
// call replayed after moat restarts — or sent to another moat sharing the store — is still refused.
//
// Layout: "nonces/n/<id>" holds a nonce's expiry (Unix seconds) and "nonces/x/<minute>/<id>" indexes
// it by the minute it expires in, so that expired nonces are deleted a minute at a time without
// reading the others; <id> is a hash of the access key and the nonce. Both keys are written in the
// transaction that checks the nonce is new; on a store that deletes expired keys by itself (etcd's
// leases: store.ExpiringTx) they go at their expiry even when no later call purges them.
//
// Use calls arriving while a commit is running are committed together by the next one (group
// commit): under load, one durable write serves many calls. NonceJournal is safe for concurrent use.
//
// While a shared store cannot be reached, Use fails with an error the verifier reads as an outage
// (sign.Outage): a read-only call is then served on the verifier's in-memory record of its nonce, any
// other call is refused. Either way the nonce is kept (at most nonceLate of them) and recorded once the
// store is back, in the room later calls' commits leave, so that the call cannot be replayed to another
// gateway after the outage either.
//
// Why a journal rather than refusing calls signed before the process started: that fence would also
// refuse, after every restart, an honest client whose clock is behind moat's, for as long as it is
// behind (up to the 15-minute window), and it would not stop a replay of a call signed with a clock
// ahead of moat's. The journal keeps the window as wide as the provider's for every client; the price is
// one durable write per signed call, made before the call is served (so a crash between the write and
// the change loses the change, never the record: the client retries with a fresh nonce).
type NonceJournal struct {
	store store.Store
	log   *slog.Logger // nil: errors are only returned

	commit  sync.Mutex // held by the one caller committing a batch
	mu      sync.Mutex // guards pending and purged
	pending []*nonceUse
	late    []*nonceUse // nonces whose commit failed for an outage, oldest first, to record later
	purged  int64       // expired index minutes up to this one are deleted; 0 = none yet (scan all once)
}

// nonceUse is one Use call waiting for its batch; fresh, err and done are written under commit.
type nonceUse struct {
	id     string
	expiry int64
	fresh  bool
	err    error
	done   bool
}

const (
	noncePrefix      = "nonces/n/"
	nonceIndexPrefix = "nonces/x/"
	// noncePurgeScan is the gap in minutes beyond which purging lists the whole index instead of
	// visiting each minute (a first purge, or a clock that jumped).
	noncePurgeScan = 120
	// nonceBatch and noncePurgeBatch bound one transaction: the nonces it records (two keys each) and
	// the expired ones it deletes (two keys each), so that it stays within etcd's default of 128
	// operations per transaction (etcdstore); purging catches up over the next transactions.
	nonceBatch      = 32
	noncePurgeBatch = 30
	// nonceLate bounds the nonces kept to record after an outage; beyond it the oldest are dropped (the
	// verifier still remembers them, in memory).
	nonceLate = 10_000
)

// NonceJournal returns a journal over the plane's store.
func (p *Plane) NonceJournal() *NonceJournal { return &NonceJournal{store: p.store, log: p.log} }

// Use implements sign.Journal: it records that access key keyID used nonce until expiry, unless the
// nonce is recorded with an expiry after now (fresh=false). It returns once the record is durable.
func (j *NonceJournal) Use(keyID, nonce string, now, expiry time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(keyID + "\x00" + nonce))
	u := &nonceUse{id: hex.EncodeToString(sum[:16]), expiry: expiry.Unix()}
	j.mu.Lock()
	j.pending = append(j.pending, u)
	j.mu.Unlock()

	j.commit.Lock()
	defer j.commit.Unlock()
	for !u.done { // not committed by an earlier caller's batch: commit the oldest waiting, up to u
		j.mu.Lock()
		batch := j.pending[:min(len(j.pending), nonceBatch)]
		j.pending = j.pending[len(batch):]
		late := j.late[:min(len(j.late), nonceBatch-len(batch))]
		j.late = j.late[len(late):]
		j.mu.Unlock()
		var purged int64
		err := j.store.Update(func(tx store.Tx) (err error) {
			purged, err = j.write(tx, slices.Concat(batch, late), now.Unix())
			return err
		})
		if err == nil {
			j.mu.Lock()
			j.purged = max(j.purged, purged)
			j.mu.Unlock()
		} else if j.log != nil {
			j.log.Error("signature nonces cannot be recorded: signed API calls other than reads are refused (503) until they can", "calls", len(batch), "err", err)
		}
		if errors.Is(err, store.ErrUnavailable) {
			j.keepLate(late, batch, now.Unix())
		}
		for _, b := range batch {
			b.done = true
			if err != nil {
				b.fresh, b.err = false, fmt.Errorf("record signature nonces: %w", err)
				if errors.Is(err, store.ErrUnavailable) {
					b.err = storeOutage{b.err}
				}
			}
		}
	}
	return u.fresh, u.err
}

// keepLate puts back the late nonces a failed commit carried, and adds those of its batch, dropping the
// expired ones and, beyond nonceLate, the oldest. Called with commit held.
func (j *NonceJournal) keepLate(late, batch []*nonceUse, now int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	kept := make([]*nonceUse, 0, len(late)+len(j.late)+len(batch))
	kept = append(kept, late...)
	kept = append(kept, j.late...)
	for _, b := range batch {
		kept = append(kept, &nonceUse{id: b.id, expiry: b.expiry}) // b itself is its caller's
	}
	kept = slices.DeleteFunc(kept, func(u *nonceUse) bool { return u.expiry <= now })
	j.late = kept[max(0, len(kept)-nonceLate):]
}

// write records the batch's new nonces and deletes expired ones, inside one transaction; it returns
// the minute through which expired nonces are then deleted.
func (j *NonceJournal) write(tx store.Tx, batch []*nonceUse, now int64) (int64, error) {
	for _, u := range batch {
		u.fresh = false
		b, err := tx.Get(noncePrefix + u.id)
		if err == nil {
			if exp, perr := strconv.ParseInt(string(b), 10, 64); perr == nil && exp > now {
				continue // a replay (or the same nonce twice in this batch)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		if err := putExpiring(tx, noncePrefix+u.id, []byte(strconv.FormatInt(u.expiry, 10)), u.expiry); err != nil {
			return 0, err
		}
		if err := putExpiring(tx, nonceIndexKey(expiryMinute(u.expiry), u.id), nil, u.expiry); err != nil {
			return 0, err
		}
		u.fresh = true
	}
	return j.purge(tx, now)
}

// putExpiring puts a nonce's key so that a store that can (etcd: a lease, store.ExpiringTx) deletes it
// by itself after expiry (Unix seconds), even if no call comes to purge it.
func putExpiring(tx store.Tx, key string, value []byte, expiry int64) error {
	if e, ok := tx.(store.ExpiringTx); ok {
		return e.PutExpiring(key, value, time.Unix(expiry, 0))
	}
	return tx.Put(key, value)
}

// expiryMinute is the index minute of a nonce expiring at exp (Unix seconds): the first minute whose
// start is not before exp, so a nonce is purged only once its minute has fully begun after expiry.
func expiryMinute(exp int64) int64 { return (exp + 59) / 60 }

func nonceIndexKey(minute int64, id string) string {
	return fmt.Sprintf("%s%012d/%s", nonceIndexPrefix, minute, id)
}

// purge deletes the nonces whose index minute has started by now, at most noncePurgeBatch of them, and
// returns the minute through which none is left (now's minute when it got through them all). It runs
// inside the caller's Update, which advances purged only if it commits (a failed purge is redone by
// the next batch; deleting twice is harmless).
func (j *NonceJournal) purge(tx store.Tx, now int64) (int64, error) {
	nowMin := now / 60
	j.mu.Lock()
	from := j.purged
	j.mu.Unlock()
	if from >= nowMin {
		return from, nil
	}
	var prefixes []string
	if from == 0 || nowMin-from > noncePurgeScan {
		prefixes = []string{nonceIndexPrefix}
	} else {
		for m := from + 1; m <= nowMin; m++ {
			prefixes = append(prefixes, fmt.Sprintf("%s%012d/", nonceIndexPrefix, m))
		}
	}
	left := noncePurgeBatch
	for _, p := range prefixes {
		kvs, err := tx.Range(p, store.PrefixEnd(p), false, left+1)
		if err != nil {
			return 0, err
		}
		for _, kv := range kvs {
			minStr, id, ok := strings.Cut(strings.TrimPrefix(kv.Key, nonceIndexPrefix), "/")
			minute, err := strconv.ParseInt(minStr, 10, 64)
			if !ok || err != nil {
				return 0, fmt.Errorf("nonce index key %q is malformed", kv.Key)
			}
			if minute > nowMin {
				break // the index is sorted by minute: the rest expire later
			}
			if left == 0 {
				return minute - 1, nil // the batch is full: minute and later wait for the next one
			}
			if err := j.forget(tx, kv.Key, id, now); err != nil {
				return 0, err
			}
			left--
		}
	}
	return nowMin, nil
}

// forget deletes an index entry and, unless the nonce was recorded again since with a later expiry,
// the nonce itself.
func (j *NonceJournal) forget(tx store.Tx, indexKey, id string, now int64) error {
	if err := tx.Delete(indexKey); err != nil {
		return err
	}
	b, err := tx.Get(noncePrefix + id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if exp, perr := strconv.ParseInt(string(b), 10, 64); perr == nil && exp > now {
		return nil
	}
	return tx.Delete(noncePrefix + id)
}

// storeOutage is a Use error caused by a shared store that cannot be reached: its text names the store's
// state and since when, which the API caller may read (sign.PublicCause).
type storeOutage struct{ error }

func (o storeOutage) Unwrap() error       { return o.error }
func (o storeOutage) PublicCause() string { return o.Error() }

// Outage implements sign.Outage: the nonce is neither recorded nor known used.
func (o storeOutage) Outage() {}
