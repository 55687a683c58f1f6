package etcdstore

import (
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Expiring keys (store.ExpiringTx): a key put with an expiry is attached to an etcd lease that ends a
// little after it, so etcd deletes the key by itself even when no moat process runs. Keys expiring within
// the same leaseBucket share one lease, granted on the first commit that needs it: one extra request per
// bucket, not per key. A lease ends leaseMargin after its bucket, never before: a key lives at least until
// its expiry (etcd may keep it longer: a new leader extends every lease).
const (
	leaseBucket = 10 // seconds
	leaseMargin = 5 * time.Second
)

// leases caches the leases granted, by the end of their bucket (Unix seconds). Guarded by Store.leaseMu.
type leases map[int64]clientv3.LeaseID

// leaseFor returns the lease of keys expiring at expiry (Unix seconds), granting it if needed.
func (s *Store) leaseFor(expiry int64) (clientv3.LeaseID, error) {
	bucket := (expiry + leaseBucket - 1) / leaseBucket * leaseBucket
	now := time.Now()
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if id, ok := s.leases[bucket]; ok {
		return id, nil
	}
	for b := range s.leases { // ended, or about to: never handed out again
		if b < now.Unix() {
			delete(s.leases, b)
		}
	}
	ttl := time.Unix(bucket, 0).Sub(now) + leaseMargin
	ctx, cancel := s.rpc()
	defer cancel()
	resp, err := s.cli.Grant(ctx, int64(ttl.Seconds())+1)
	if err != nil {
		return 0, s.fault(fmt.Sprintf("grant a lease of %v", ttl.Round(time.Second)), err)
	}
	if s.leases == nil {
		s.leases = leases{}
	}
	s.leases[bucket] = resp.ID
	return resp.ID, nil
}

// forgetLeases drops every cached lease (etcd no longer knows one of them).
func (s *Store) forgetLeases() {
	s.leaseMu.Lock()
	s.leases = nil
	s.leaseMu.Unlock()
}
