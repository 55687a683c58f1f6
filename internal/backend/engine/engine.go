package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// LogFile is the name of the append-only log in the engine's directory.
const LogFile = "engine.aof"

// SyncEvery is how often the log is fsynced (Redis's appendfsync everysec).
const SyncEvery = time.Second

// Engine is one in-process engine: its data, its log, and the connections it serves.
type Engine struct {
	m   *miniredis.Miniredis
	srv *server.Server
	log *aof
	lg  *slog.Logger

	// wmu orders the logged commands: each runs and is appended to the log under it.
	wmu sync.Mutex

	mu      sync.Mutex
	conns   map[*conn]struct{}
	lns     []net.Listener
	closed  bool
	serving sync.WaitGroup // connection goroutines
	stop    chan struct{}  // closed by Close: ends the sync loop
	synced  chan struct{}  // closed when the sync loop has ended
}

// Open loads dir/engine.aof (created if missing) into a new engine. A log whose end was cut short (a
// crash in the middle of a write) is truncated to its last whole unit, with a warning.
func Open(dir string, lg *slog.Logger) (*Engine, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	// Dial starts the engine's command table without a listener; the pipe it returns is not used.
	p, err := m.Dial()
	if err != nil {
		return nil, fmt.Errorf("engine: start: %w", err)
	}
	_ = p.Close()
	e := &Engine{
		m: m, srv: m.Server(), lg: lg,
		log:    &aof{path: filepath.Join(dir, LogFile)},
		conns:  map[*conn]struct{}{},
		stop:   make(chan struct{}),
		synced: make(chan struct{}),
	}
	if err := e.load(); err != nil {
		m.Close()
		return nil, err
	}
	go e.syncLoop()
	return e, nil
}

// Serve accepts connections on l until l or the engine is closed. The engine closes l on Close.
func (e *Engine) Serve(l net.Listener) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = l.Close()
		return net.ErrClosed
	}
	e.lns = append(e.lns, l)
	e.mu.Unlock()
	for {
		nc, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		c := newConn(e, nc)
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			_ = nc.Close()
			continue
		}
		e.conns[c] = struct{}{}
		e.serving.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.serving.Done()
			c.serve()
		}()
	}
}

// forget drops c from the served connections.
func (e *Engine) forget(c *conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

// wake makes blocked commands look again at their connections (one that went away gives up).
func (e *Engine) wake() {
	p := server.NewPeer(discard())
	e.srv.Dispatch(p, []string{"EXISTS", "\x00wake"})
}

// Close stops serving (open connections are closed once the command each is running finishes),
// writes and fsyncs the log, and stops the engine. Every write acknowledged before is in the log on
// disk. Idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.synced
		return nil
	}
	e.closed = true
	for _, l := range e.lns {
		_ = l.Close()
	}
	for c := range e.conns {
		_ = c.nc.Close()
	}
	e.mu.Unlock()
	e.m.CtxCancel() // blocked commands give up
	e.wake()
	e.serving.Wait()
	close(e.stop)
	<-e.synced
	e.wmu.Lock()
	defer e.wmu.Unlock()
	err := e.log.sync()
	e.log.mu.Lock()
	if cerr := e.log.f.Close(); err == nil {
		err = cerr
	}
	e.log.f = nil
	e.log.mu.Unlock()
	e.m.Close()
	if err != nil {
		return fmt.Errorf("engine: %s: %w", e.log.path, err)
	}
	return nil
}

// syncLoop fsyncs the log every SyncEvery and starts a rewrite when it is due.
func (e *Engine) syncLoop() {
	defer close(e.synced)
	t := time.NewTicker(SyncEvery)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		if err := e.log.sync(); err != nil {
			if !failing {
				e.lg.Error("engine: writing the log failed; writes are kept in memory until it works again", "file", e.log.path, "error", err)
			}
			failing = true
			continue
		} else if failing {
			e.lg.Warn("engine: the log is written again", "file", e.log.path)
			failing = false
		}
		if e.log.due() {
			e.rewrite()
		}
	}
}

// privateFile opens path for appending with mode 0600.
func privateFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
}
