package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-dev/moat/internal/snapshot"
)

// Refusal reasons, the "reason" label of moat_connections_refused_total.
const (
	ReasonIllegalAddress     = snapshot.ReasonIllegalAddress // W8 (snapshot.Admit)
	ReasonBackendUnavailable = "backend_unavailable"
	ReasonRevoked            = "revoked"
	ReasonProtocolError      = snapshot.ReasonProtocolError // N5 and malformed input
	ReasonProtectedMode      = snapshot.ReasonProtectedMode // N2: -DENIED (snapshot.Admit)
	ReasonMaxClients         = "max_clients"                // maxclients, maxclients-per-ip
	ReasonTLSHandshake       = "tls_handshake"              // the TLS handshake failed (no or a bad client certificate…)
	// ReasonAuthLockout is a login (AUTH, HELLO AUTH) refused by the brute-force lockout (A5), answered as
	// a wrong password; it is a refusal record (Activity), not a refused connection: the lockout closes
	// no connection.
	ReasonAuthLockout = "auth_lockout"
)

// Metrics are the data plane's Prometheus collectors. One Metrics serves every instance; it is safe for
// concurrent use. Register it with Register.
type Metrics struct {
	accepted  *prometheus.CounterVec
	refused   *prometheus.CounterVec
	active    *prometheus.GaugeVec
	forwarded *prometheus.CounterVec
	backend   *prometheus.CounterVec
	acl       *prometheus.CounterVec
	moved     *prometheus.CounterVec
	paced     *prometheus.CounterVec
	parked    *prometheus.GaugeVec
}

// NewMetrics creates the collectors; nothing is registered yet.
func NewMetrics() *Metrics {
	return &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_connections_accepted_total",
			Help: "Client connections whose address was allowed.",
		}, []string{"instance"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_connections_refused_total",
			Help: "Client connections refused or closed by moat, by reason.",
		}, []string{"instance", "reason"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "moat_connections_active",
			Help: "Client connections being served.",
		}, []string{"instance"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_commands_forwarded_total",
			Help: "Commands sent to the backend.",
		}, []string{"instance"}),
		backend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_backend_errors_total",
			Help: "Backend failures: dial (could not connect) and io (connection lost).",
		}, []string{"instance", "kind"}),
		acl: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_acl_refusals_total",
			Help: "Commands and logins moat refused: auth (AUTH or HELLO AUTH failed), source (a user's source restriction), lockout (a login of a user or address locked out after repeated failures, answered as a wrong password), noperm (an ACL rule), noauth (a command before AUTH).",
		}, []string{"instance", "reason"}),
		moved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_sessions_moved_dedicated_total",
			Help: "Client connections that left the shared lane for a backend connection of their own, before a command that needs connection state (MULTI, SELECT, blocking commands, pub/sub…).",
		}, []string{"instance"}),
		paced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_refusals_paced_total",
			Help: "Refused connections whose reply waited its turn: refusals beyond 500 a second (a connect-and-refuse flood) are paced so that the clients being served keep their CPU.",
		}, []string{"instance"}),
		parked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "moat_connections_parked",
			Help: "Client connections idle long enough to wait without goroutines of their own (counted in moat_connections_active too).",
		}, []string{"instance"}),
	}
}

// Register adds the collectors to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.active, m.forwarded, m.backend, m.acl, m.moved, m.paced, m.parked} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// instanceMetrics are one instance's resolved label children, so the hot path does no label lookups.
type instanceMetrics struct {
	accepted        prometheus.Counter
	refusedAddress  prometheus.Counter
	refusedBackend  prometheus.Counter
	refusedRevoked  prometheus.Counter
	refusedProtocol prometheus.Counter
	active          prometheus.Gauge
	forwarded       prometheus.Counter
	dialErrors      prometheus.Counter
	ioErrors        prometheus.Counter

	// Network security.
	refusedProtected  prometheus.Counter
	refusedMaxClients prometheus.Counter
	refusedTLS        prometheus.Counter

	// Authentication and ACLs.
	authFailed   prometheus.Counter
	authSource   prometheus.Counter
	aclDenied    prometheus.Counter
	aclNoAuth    prometheus.Counter
	authLockouts prometheus.Counter

	movedDedicated prometheus.Counter
	refusalsPaced  prometheus.Counter
	parked         prometheus.Gauge
}

func (m *Metrics) forInstance(id string) instanceMetrics {
	return instanceMetrics{
		accepted:        m.accepted.WithLabelValues(id),
		refusedAddress:  m.refused.WithLabelValues(id, ReasonIllegalAddress),
		refusedBackend:  m.refused.WithLabelValues(id, ReasonBackendUnavailable),
		refusedRevoked:  m.refused.WithLabelValues(id, ReasonRevoked),
		refusedProtocol: m.refused.WithLabelValues(id, ReasonProtocolError),
		active:          m.active.WithLabelValues(id),
		forwarded:       m.forwarded.WithLabelValues(id),
		dialErrors:      m.backend.WithLabelValues(id, "dial"),
		ioErrors:        m.backend.WithLabelValues(id, "io"),

		refusedProtected:  m.refused.WithLabelValues(id, ReasonProtectedMode),
		refusedMaxClients: m.refused.WithLabelValues(id, ReasonMaxClients),
		refusedTLS:        m.refused.WithLabelValues(id, ReasonTLSHandshake),

		authFailed:   m.acl.WithLabelValues(id, "auth"),
		authSource:   m.acl.WithLabelValues(id, "source"),
		aclDenied:    m.acl.WithLabelValues(id, "noperm"),
		aclNoAuth:    m.acl.WithLabelValues(id, "noauth"),
		authLockouts: m.acl.WithLabelValues(id, "lockout"),

		movedDedicated: m.moved.WithLabelValues(id),
		refusalsPaced:  m.paced.WithLabelValues(id),
		parked:         m.parked.WithLabelValues(id),
	}
}

// forget removes an instance's series when it stops being served.
func (m *Metrics) forget(id string) {
	for _, v := range []*prometheus.MetricVec{m.accepted.MetricVec, m.refused.MetricVec, m.active.MetricVec, m.forwarded.MetricVec, m.backend.MetricVec, m.acl.MetricVec, m.moved.MetricVec, m.paced.MetricVec, m.parked.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{"instance": id})
	}
}
