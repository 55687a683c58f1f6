package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	m     *miniredis.Miniredis
	srv   *server.Server
	log   *aof
	lg    *slog.Logger
	stats *stats
	// asLog makes an opened log file the engine's log (the file itself; a test's volatileFile).
	asLog func(*os.File) logFile

	// wmu orders the logged commands: each runs and is appended to the log under it.
	wmu sync.Mutex

	mu      sync.Mutex
	conns   map[*conn]struct{}
	lns     []net.Listener
	closed  bool
	serving sync.WaitGroup // connection goroutines
	stop    chan struct{}  // closed by Close: ends the sync loop
	synced  chan struct{}  // closed when the sync loop has ended
	ticked  chan struct{}  // closed when the clock loop has ended
	now     atomic.Int64   // the engine's clock (Unix ns), as last set by clockLoop
}

// Open loads dir/engine.aof (created if missing) into a new engine. A log whose end was cut short (a
// crash in the middle of a write) is truncated to its last whole unit, with a warning.
func Open(dir string, lg *slog.Logger) (*Engine, error) {
	return open(dir, lg, func(f *os.File) logFile { return f })
}

// open is Open with the log's files made the engine's by asLog.
func open(dir string, lg *slog.Logger, asLog func(*os.File) logFile) (*Engine, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	m := miniredis.NewMiniRedis()
	now := time.Now()
	m.SetTime(now) // the engine's clock: moved by clockLoop
	m.ClockTTL(true)
	// Dial starts the engine's command table without a listener; the pipe it returns is not used.
	p, err := m.Dial()
	if err != nil {
		return nil, fmt.Errorf("engine: start: %w", err)
	}
	_ = p.Close()
	e := &Engine{
		m: m, srv: m.Server(), lg: lg, stats: newStats(), asLog: asLog,
		log:    &aof{path: filepath.Join(dir, LogFile), min: minRewrite, dueC: make(chan struct{}, 1)},
		conns:  map[*conn]struct{}{},
		stop:   make(chan struct{}),
		synced: make(chan struct{}),
		ticked: make(chan struct{}),
	}
	e.now.Store(now.UnixNano())
	e.srv.SetPreHook(e.preHook)
	if err := e.load(); err != nil {
		m.Close()
		return nil, err
	}
	go e.syncLoop()
	go e.clockLoop()
	return e, nil
}

// Serve accepts connections on l until l or the engine is closed. The engine closes l on Close. It
// returns nil when that ended it (also when the engine was closed before Serve began), else the accept
// error.
func (e *Engine) Serve(l net.Listener) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = l.Close()
		return nil
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
		e.stats.connections.Add(1)
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
	<-e.ticked
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

// syncLoop fsyncs the log every SyncEvery, and rewrites it when it is due: checked after each fsync
// and as soon as a commit makes it due, so that the log stays within about twice the size of the data
// (or minRewrite) whatever the rate of writes.
func (e *Engine) syncLoop() {
	defer close(e.synced)
	t := time.NewTicker(SyncEvery)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-e.stop:
			return
		case <-e.log.dueC:
			if !failing && e.log.due() {
				e.rewrite()
			}
			continue
		case <-t.C:
		}
		e.stats.sample()
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

// Ticks of the engine's clock. The library ages every key with a TTL whenever its clock has moved
// (a sort of all keys and a pass over them, under its lock); with the wall clock that happens on every
// command. clockLoop moves the clock instead, and spaces the moves by 20 times what the last one cost,
// so that ageing takes at most ~5% of the engine's time: every 10 ms up to ~5,000 keys, ~0.6 s at
// 100,000 keys. Expiry is late by up to one interval.
const (
	minTick    = 10 * time.Millisecond
	maxTick    = 10 * time.Second
	tickFactor = 20
)

// clockLoop moves the engine's clock to the wall clock's time, at intervals that follow the cost of
// ageing the keys.
func (e *Engine) clockLoop() {
	defer close(e.ticked)
	t := time.NewTimer(minTick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		// Under the write lock: what the log records (an expiry as the engine's clock plus a TTL) sees
		// the clock and the TTLs aged to it together.
		now := time.Now()
		e.wmu.Lock()
		e.m.SetTime(now)
		e.now.Store(now.UnixNano())
		start := time.Now()
		e.m.DB(0) // ages the keys now, not in the next command
		cost := time.Since(start)
		e.wmu.Unlock()
		t.Reset(min(max(tickFactor*cost, minTick), maxTick))
	}
}

// clock is the engine's time.
func (e *Engine) clock() time.Time { return time.Unix(0, e.now.Load()) }

// privateFile opens path for appending with mode 0600.
func privateFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
}
