package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
)

// NewStore returns `moat store`, the local commands on a state store itself (no API call, no running
// moat needed): `moat store copy`.
func NewStore() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Work on a state store directly: copy a whole state between bbolt and etcd",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newStoreCopy())
	usageArgs(cmd)
	return cmd
}

// etcdFlags are the etcd connection flags, named as etcdctl names them after the --etcd- prefix.
type etcdFlags struct {
	prefix, cacert, cert, key, user string
}

func newStoreCopy() *cobra.Command {
	var from, to string
	var force bool
	var ef etcdFlags
	cmd := &cobra.Command{
		Use:   "copy --from bbolt:PATH|etcd:ENDPOINTS --to bbolt:PATH|etcd:ENDPOINTS",
		Short: "Copy a whole state from one store to another (bbolt file <-> etcd), recording the copy in the target's audit log",
		Long: `Copy every key of a state store into another: a bbolt file (moat serve's DATA-DIR/state.db) into etcd
to start a fleet, or etcd back into a bbolt file. The source is read at one moment (a consistent snapshot);
a bbolt source must not be open in a running moat (stop it first). The target must be empty unless --force,
which replaces its whole state. The copy is written in transactions within etcd's limits: a copy cut short
leaves a partial target, which a second run with --force replaces. The target's audit log records the copy
(action CopyStore).

Examples:
  moat store copy --from bbolt:moat-data/state.db --to etcd:http://10.0.0.1:2379,http://10.0.0.2:2379
  moat store copy --from etcd:https://10.0.0.1:2379 --etcd-cacert ca.pem --to bbolt:backup/state.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usageError{errors.New("both --from and --to are required")}
			}
			src, srcName, err := openSpec(from, ef, true)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, dstName, err := openSpec(to, ef, false)
			if err != nil {
				return err
			}
			defer dst.Close()
			n, err := copyStore(src, dst, force)
			if err != nil {
				return fmt.Errorf("copy %s to %s: %w", srcName, dstName, err)
			}
			after, _ := json.Marshal(map[string]any{"from": srcName, "to": dstName, "keys": n, "force": force})
			plane := controlplane.New(dst, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err := plane.RecordChange(localActor(), "CopyStore", srcName, after); err != nil {
				return fmt.Errorf("copied %d keys from %s to %s, but recording it in the audit log failed: %w", n, srcName, dstName, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %d keys from %s to %s\n", n, srcName, dstName)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the source: bbolt:PATH or etcd:ENDPOINT[,ENDPOINT…]")
	f.StringVar(&to, "to", "", "the target: bbolt:PATH or etcd:ENDPOINT[,ENDPOINT…]")
	f.BoolVar(&force, "force", false, "copy into a target that is not empty, replacing its whole state")
	f.StringVar(&ef.prefix, "etcd-prefix", etcdstore.DefaultPrefix, "the etcd key prefix moat's keys live under")
	f.StringVar(&ef.cacert, "etcd-cacert", "", "etcd: verify the servers' certificates with this CA bundle (PEM)")
	f.StringVar(&ef.cert, "etcd-cert", "", "etcd: client certificate (PEM)")
	f.StringVar(&ef.key, "etcd-key", "", "etcd: client certificate's key (PEM)")
	f.StringVar(&ef.user, "etcd-user", "", "etcd: user name, or name:password (password also from env MOAT_ETCD_PASSWORD)")
	return cmd
}

// openSpec opens "bbolt:PATH" or "etcd:ENDPOINTS" and returns it with a name for messages and the audit
// log, which holds no credential. A bbolt source must exist; a bbolt target is created when missing.
func openSpec(spec string, ef etcdFlags, source bool) (store.Store, string, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	if arg == "" {
		return nil, "", usageError{fmt.Errorf("store %q: want bbolt:PATH or etcd:ENDPOINT[,ENDPOINT…]", spec)}
	}
	switch kind {
	case "bbolt":
		if _, err := os.Stat(arg); err != nil && (source || !errors.Is(err, os.ErrNotExist)) {
			return nil, "", fmt.Errorf("store %s: %w", spec, err)
		}
		s, err := store.OpenBolt(arg)
		if errors.Is(err, store.ErrLocked) {
			return nil, "", fmt.Errorf("%w: stop the moat serving from it first (a copy must read one consistent state)", err)
		}
		return s, "bbolt:" + arg, err
	case "etcd":
		user, password, _ := strings.Cut(ef.user, ":")
		if password == "" {
			password = os.Getenv("MOAT_ETCD_PASSWORD")
		}
		s, err := etcdstore.Open(etcdstore.Options{
			Endpoints: strings.Split(arg, ","), Prefix: ef.prefix,
			CACert: ef.cacert, Cert: ef.cert, Key: ef.key, Username: user, Password: password,
		})
		if err != nil {
			return nil, "", err
		}
		return s, "etcd:" + strings.Join(s.Endpoints(), ",") + " prefix " + s.Prefix(), nil
	}
	return nil, "", usageError{fmt.Errorf("store %q: want bbolt:PATH or etcd:ENDPOINT[,ENDPOINT…]", spec)}
}

// Bounds of one transaction of a copy, within etcd's defaults (128 operations, 1.5 MiB).
const (
	copyBatchKeys  = 100
	copyBatchBytes = 1 << 20
)

// copyStore copies every key of src (read in one View) into dst and returns how many. dst must be empty
// unless force, which deletes the keys src does not have.
func copyStore(src, dst store.Store, force bool) (int, error) {
	var kvs []store.KV
	if err := src.View(func(tx store.Tx) (err error) { kvs, err = tx.List(""); return err }); err != nil {
		return 0, fmt.Errorf("read the source: %w", err)
	}
	var stale []string
	err := dst.View(func(tx store.Tx) error {
		have, err := tx.List("")
		if err != nil {
			return err
		}
		if len(have) > 0 && !force {
			return fmt.Errorf("the target already holds %d keys (such as %q): add --force to replace its state", len(have), have[0].Key)
		}
		keep := make(map[string]bool, len(kvs))
		for _, kv := range kvs {
			keep[kv.Key] = true
		}
		for _, kv := range have {
			if !keep[kv.Key] {
				stale = append(stale, kv.Key)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for len(stale) > 0 {
		batch := stale[:min(len(stale), copyBatchKeys)]
		stale = stale[len(batch):]
		if err := dst.Update(func(tx store.Tx) error {
			for _, k := range batch {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, fmt.Errorf("clear the target: %w", err)
		}
	}
	for done := 0; done < len(kvs); {
		end, size := done, 0
		for end < len(kvs) && end-done < copyBatchKeys && (end == done || size+len(kvs[end].Key)+len(kvs[end].Value) <= copyBatchBytes) {
			size += len(kvs[end].Key) + len(kvs[end].Value)
			end++
		}
		if err := dst.Update(func(tx store.Tx) error {
			for _, kv := range kvs[done:end] {
				if err := tx.Put(kv.Key, kv.Value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return done, fmt.Errorf("write the target (%d of %d keys written): %w", done, len(kvs), err)
		}
		done = end
	}
	return len(kvs), nil
}

// localActor is who the audit log names for a local command: the operating-system user, on this host.
func localActor() controlplane.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return controlplane.Actor{KeyID: "local:" + name, Source: host}
}
