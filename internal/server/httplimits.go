package server

import (
	"time"

	"github.com/moat-dev/moat/internal/config"
)

// HTTPLimits bound the API listener's connections. Zero fields take the defaults below.
type HTTPLimits struct {
	// MaxConns caps the API listener's open connections in all; MaxConnsPerAddr caps those of one
	// source address (trusted proxies are exempt from it). The total is further capped to a quarter of
	// the open-file limit (fdlimit.go).
	MaxConns, MaxConnsPerAddr int
	// ReadHeaderTimeout bounds reading a request's headers; ReadTimeout the whole request, body
	// included; WriteTimeout the handling and writing of the reply; IdleTimeout a keep-alive
	// connection between requests.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Defaults of HTTPLimits.
const (
	DefaultAPIMaxConns        = 1024
	DefaultAPIMaxConnsPerAddr = 64
	DefaultReadHeaderTimeout  = 5 * time.Second
	DefaultReadTimeout        = 30 * time.Second
	DefaultWriteTimeout       = 60 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
)

// withDefaults returns l with every zero field set to its default.
func (l HTTPLimits) withDefaults() HTTPLimits {
	l.MaxConns = orInt(l.MaxConns, DefaultAPIMaxConns)
	l.MaxConnsPerAddr = orInt(l.MaxConnsPerAddr, DefaultAPIMaxConnsPerAddr)
	l.ReadHeaderTimeout = orDuration(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	l.ReadTimeout = orDuration(l.ReadTimeout, DefaultReadTimeout)
	l.WriteTimeout = orDuration(l.WriteTimeout, DefaultWriteTimeout)
	l.IdleTimeout = orDuration(l.IdleTimeout, DefaultIdleTimeout)
	return l
}

func orInt(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func orDuration(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

// fromFile takes the config file's API settings where no flag set them.
func (o *Options) fromFile(f *config.File) {
	o.HTTP.MaxConns = orInt(o.HTTP.MaxConns, f.APIMaxConns)
	o.HTTP.MaxConnsPerAddr = orInt(o.HTTP.MaxConnsPerAddr, f.APIMaxConnsPerAddr)
	if len(o.APIHosts) == 0 {
		o.APIHosts = f.APIHosts
	}
	if len(o.TrustedProxies) == 0 {
		o.TrustedProxies = f.APITrustedProxies
	}
	o.MetricsListen = orDefault(o.MetricsListen, f.MetricsListen)
}
