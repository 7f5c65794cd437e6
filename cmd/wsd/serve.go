package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/admin"
	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/store"
)

// serve runs the daemon until SIGTERM or SIGINT, then drains it. args and
// getenv are kept for SIGHUP, which re-reads the config file over them.
func serve(ctx context.Context, cfg config, args []string, getenv func(string) string, stderr io.Writer) (err error) {
	level := new(slog.LevelVar)
	level.Set(cfg.logLevel)
	log := newLogger(stderr, cfg.logFormat, level)
	sd := notifier{log: log}

	// Signals are watched from the start so that a SIGTERM during start-up
	// is not lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	// Listen first: a port in use fails the start before anything is
	// created on disk (state directory, key, history).
	wsLns, adminLn, err := listeners(cfg)
	if err != nil {
		return err
	}
	serving := false // once true, the servers own the listeners
	defer func() {
		if !serving {
			closeListeners(wsLns, adminLn)
		}
	}()
	wsLns, adminLn, certs, err := tlsListeners(cfg, wsLns, adminLn)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(cfg.stateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if fi, err := os.Stat(cfg.stateDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("state directory is readable by others; 0700 is recommended", "dir", cfg.stateDir, "mode", fi.Mode().Perm().String())
	}
	tel, err := newTelemetry(ctx, cfg.tracing, log.With("component", "tracing"))
	if err != nil {
		return err
	}
	nodeName := cfg.cluster.nodeName()
	st, err := store.Open(ctx, store.Config{
		Path:      cfg.stateDB(),
		Node:      nodeName,
		Retention: cfg.historyRetention,
		Logger:    log.With("component", "store"),
		OnCommit:  tel.onCommit,
	})
	if err != nil {
		return err
	}
	if err := tel.registerStore(st); err != nil {
		return errors.Join(err, st.Close())
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	keys, err := newAuth(cfg, log)
	if err != nil {
		return err
	}
	// The fleet (--cluster): its node carries relay messages for the
	// daemon and answers the admin API for every node.
	fleet, err := joinCluster(cfg.cluster, adminLn.Addr().String(), tel.reg, log.With("component", "cluster"))
	if err != nil {
		return err
	}
	var relayBus daemon.RelayBus
	if fleet != nil {
		defer fleet.Stop() // after the drain: other nodes reach this one's connections until then
		relayBus = fleet
		cfg.daemon.NodeTag = session.NodeTag(fleet.Name())
	}
	d, err := daemon.New(cfg.daemon, daemon.Deps{
		Logger:         log.With("component", "daemon"),
		Recorder:       st,
		Authenticator:  keys.client,
		TracerProvider: tel.tracing.TracerProvider(),
		Metrics:        tel.reg,
		RelayBus:       relayBus,
	})
	if err != nil {
		return err
	}
	var hub admin.Hub = d
	var hist admin.History = st
	if fleet != nil {
		if err := fleet.Start(d, st); err != nil {
			return errors.Join(err, d.Shutdown(ctx))
		}
		hub, hist = fleet, fleet
	}
	warnFDLimit(log, cfg.daemon.MaxConnections)

	adminMux, api, err := newAdminAPI(cfg, hub, d, hist, nodeName, adminLn.Addr().String(), keys, adminHandler(d), tel.tracing.TracerProvider(), log.With("component", "admin"))
	if err != nil {
		return errors.Join(err, d.Shutdown(ctx))
	}
	admin := &http.Server{
		Handler:           tel.adminHandler(adminMux, api.Guard),
		ReadHeaderTimeout: 10 * time.Second,
		// The API answers heads over admin.DefaultMaxHeaderBytes (16 KiB)
		// with its JSON 431; net/http's plain-text one is left for heads
		// four times as large.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	admin.RegisterOnShutdown(api.Shutdown) // ends /v1/events streams
	var wg sync.WaitGroup
	errc := make(chan error, len(wsLns)+1)
	serving = true
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin listener: %w", err)
		}
	}()
	for _, ln := range wsLns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Serve(context.Background(), ln); err != nil {
				errc <- err
			}
		}()
	}
	addrs := make([]string, len(wsLns))
	for i, ln := range wsLns {
		addrs[i] = ln.Addr().String()
	}
	log.Info("listening", "addr", strings.Join(addrs, ","), "admin", adminLn.Addr().String(),
		"state_dir", cfg.stateDir, "node", nodeName, "cluster", strings.Join(cfg.cluster.urls, ","), "routes", routesString(cfg.daemon.Routes), "version", buildVersion())
	sd.notify("READY=1\nSTATUS=serving on " + strings.Join(addrs, ","))
	stopWatchdog := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		sd.watchdog(stopWatchdog, d.Healthy, func() string {
			st := d.Stats()
			return fmt.Sprintf("serving %d connections (%d handshaking)", st.Connections, st.Handshaking)
		})
	}()

	var runErr error
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				cfg = reload(log, level, d, keys, cfg, args, getenv)
				if err := reloadCerts(certs); err != nil {
					log.Error("reload: TLS certificate kept", "err", err)
				}
				continue
			}
			log.Info("draining", "signal", sig.String(), "connections", d.Stats().Connections, "drain_timeout", cfg.daemon.DrainTimeout)
			break wait
		case err := <-errc:
			runErr = err
			log.Error("listener failed; shutting down", "err", err)
			break wait
		case <-ctx.Done():
			break wait
		}
	}

	// Shutdown order (ARCHITECTURE.md): STOPPING, listeners, connections
	// (1001, paced, bounded by the drain timeout), store flush, admin last
	// so that /readyz reports draining meanwhile.
	sd.notify("STOPPING=1\nSTATUS=draining")
	dctx, cancel := context.WithTimeout(context.Background(), cfg.daemon.DrainTimeout)
	defer cancel()
	go func() {
		// A second SIGTERM or SIGINT ends the drain at once (connections
		// are still closed and recorded, without waiting for their
		// handshakes); SIGHUP is ignored while draining.
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					log.Info("reload ignored while draining")
					continue
				}
				log.Warn("second signal: ending drain now", "signal", sig.String())
				cancel()
				return
			case <-dctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	if err := d.Shutdown(dctx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	log.Info("drained", "elapsed", time.Since(start).Round(time.Millisecond))
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := st.Flush(fctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("flush session history: %w", err))
	}
	// Bounded by its own deadline: a collector that is down costs spans,
	// never a hung stop.
	if err := tel.tracing.Shutdown(context.Background()); err != nil {
		log.Warn("trace export incomplete", "err", err)
	}
	close(stopWatchdog)
	actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer acancel()
	if err := admin.Shutdown(actx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("admin listener: %w", err))
	}
	wg.Wait()
	return runErr
}

// listeners returns the WebSocket and admin listeners: systemd's if it
// passed sockets, else new ones on the configured addresses.
func listeners(cfg config) ([]net.Listener, net.Listener, error) {
	ws, admin, err := activatedListeners()
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() { closeListeners(ws, admin) }
	if len(ws) == 0 {
		// No TCP keepalive on WebSocket connections: the daemon's pings
		// (always on) find dead peers and keep middleboxes' state alive,
		// and the four setsockopt calls per connection are saved.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), "tcp", cfg.listen)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("--listen: %w", err)
		}
		ws = []net.Listener{ln}
	}
	if admin == nil {
		if admin, err = net.Listen("tcp", cfg.adminListen); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("--admin-listen: %w", err)
		}
	}
	return ws, admin, nil
}

// closeListeners closes what listeners returned (admin may be nil). Close
// errors are of no interest: nothing was served on them.
func closeListeners(ws []net.Listener, admin net.Listener) {
	for _, ln := range ws {
		ln.Close()
	}
	if admin != nil {
		admin.Close()
	}
}

// reload handles SIGHUP: it re-reads the configuration (the config file
// over the same flags and environment) and the token verification keys,
// validates them and applies what can change at run time. On any error the
// old configuration and keys stay.
func reload(log *slog.Logger, level *slog.LevelVar, d *daemon.Daemon, a auth, old config, args []string, getenv func(string) string) config {
	next, err := loadConfig(args, getenv)
	if err != nil {
		log.Error("reload refused; keeping the current configuration", "err", err)
		return old
	}
	next.daemon.NodeTag = old.daemon.NodeTag // fixed at start, like the fleet
	// The key files named by the settings in force: those settings change
	// only at restart, the files' contents at any reload.
	keys, err := loadAuthKeys(old.auth, old.stateDir, false, nil)
	if err != nil {
		log.Error("reload refused; keeping the current configuration", "err", fmt.Errorf("token keys: %w", err))
		return old
	}
	changed, err := d.Reload(next.daemon)
	if err != nil {
		log.Error("reload refused; keeping the current configuration", "err", err)
		return old
	}
	switch rotated, err := a.setKeys(keys); {
	case err != nil:
		// Cannot happen: loadAuthKeys checked them.
		log.Error("reload: token keys not replaced", "err", err)
	case rotated:
		changed = append(changed, "keys")
	}
	level.Set(next.logLevel)
	if ro := old.restartOnly(next); len(ro) > 0 {
		log.Warn("reload: these settings change only at restart", "settings", strings.Join(ro, ", "))
		// Keep them as running, so that later reloads compare against
		// what is actually in force.
		next.listen, next.adminListen, next.stateDir = old.listen, old.adminListen, old.stateDir
		next.tls, next.adminTLS = old.tls, old.adminTLS
		next.logFormat, next.historyRetention = old.logFormat, old.historyRetention
		next.auth = old.auth
		next.tracing = old.tracing
		next.cluster = old.cluster
	}
	if old.logLevel != next.logLevel {
		changed = append(changed, "LogLevel")
	}
	log.Info("reloaded", "changed", strings.Join(changed, ","), "routes", routesString(next.daemon.Routes))
	return next
}

func routesString(rs []daemon.Route) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, " ")
}

func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationText writes durations as Go writes them ("1.5s"), not as the
// nanosecond count slog's JSON handler would.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// warnFDLimit warns when max-connections does not fit the open-file limit
// (each connection is a descriptor; SQLite, the admin API and webhooks
// need some too).
func warnFDLimit(log *slog.Logger, maxConns int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	const headroom = 256
	if uint64(maxConns)+headroom > lim.Cur {
		log.Warn("max-connections exceeds the open-file limit; accepts will fail with EMFILE before the limit is reached",
			"max_connections", maxConns, "nofile", lim.Cur, "hint", "raise LimitNOFILE= or lower --max-connections")
	}
}

// adminHandler serves the admin listener. The admin API (chi, JWT) of a
// later issue mounts here; for now: liveness and readiness.
func adminHandler(d *daemon.Daemon) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := d.Healthy(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.Ready() {
			why := "draining"
			if d.Cordoned() {
				why = "cordoned"
			}
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
