package gateway

import "strconv"

// CONFIG SET maxclients is moat's (configcmd.go): the instance's maxclients, which admit enforces on
// accept, checked as Redis 7.0.15 checks its own (config.c: an unsigned int config, 1 to UINT_MAX;
// updateMaxclients, run only when the value changes):
//
//   - the value must parse as string2ll does and lie in 1–4294967295 (a negative number is out of
//     range, as Redis reads it unsigned): "argument must be between 1 and 4294967295 inclusive";
//   - a new value more than the process can serve is refused, nothing changed, with Redis's
//     updateMaxclients text naming the most it can: the open-files limit (Config.OpenFiles, or
//     RLIMIT_NOFILE, which Go raises to the hard limit at start) less Redis's 32 reserved descriptors,
//     and never more than the control plane stores (1000000). Redis first tries to raise the limit
//     itself; moat runs with it raised already. The limit is the process's, shared by its instances,
//     and a client on a dedicated lane holds a second descriptor (its backend connection), which this
//     check does not count, as Redis does not count its own replicas' and files'.
//
// Lowering maxclients closes no connection: those above the new limit stay, as in Redis.

// maxMaxClients is the largest maxclients moat stores (the control plane's range, 1–1000000).
const maxMaxClients = 1000000

// reservedFiles are the descriptors Redis keeps for itself beside its clients (CONFIG_MIN_RESERVED_FDS).
const reservedFiles = 32

// checkMaxClients is Redis's reason for refusing maxclients n, or "".
func checkMaxClients(n int64) string {
	if n < 1 || n > 1<<32-1 {
		return "argument must be between 1 and 4294967295 inclusive"
	}
	return ""
}

// applyFailure is the failure Redis's third pass meets applying values, moat's parameters already
// checked (configValues): a changed maxclients above what the process can serve. None otherwise.
func (in *Instance) applyFailure(values map[string]string) configFailure {
	v, ok := values["maxclients"]
	if !ok {
		return configFailure{}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n == in.snap.Load().MaxClients {
		return configFailure{}
	}
	if most := in.maxClientsServable(); n > most {
		return configFailure{pass: 3, reply: replyConfigSetFailed([]byte("maxclients"), maxClientsUnservable(most))}
	}
	return configFailure{}
}

// maxClientsServable is the largest maxclients the process can serve: its open-files limit less the
// reserved descriptors (at least 1), at most maxMaxClients.
func (in *Instance) maxClientsServable() int {
	limit := in.openFiles
	if limit <= 0 {
		limit = openFilesLimit()
	}
	if limit <= 0 { // unknown
		return maxMaxClients
	}
	return min(max(limit-reservedFiles, 1), maxMaxClients)
}
