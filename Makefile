# moat — the two commands README starts with are `make run` (or `go run ./cmd/moat serve`) and `make test`.
GO ?= go
STATICCHECK ?= v0.8.2

.PHONY: run build test test-unit fuzz bench bench-harness vet

run:
	$(GO) run ./cmd/moat serve

build:
	$(GO) build -o bin/moat ./cmd/moat

# The whole suite, as CI runs it: installs redis-server if missing, vets, runs every test with the race
# detector, runs each fuzz target briefly and each benchmark a few iterations.
test:
	./scripts/test-deps.sh
	$(GO) vet ./...
	# staticcheck, pinned (go run fetches and caches it; go.mod is untouched). Redis's own reply texts
	# carry a //lint:ignore ST1005 with the reason.
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...
	# -artifacts keeps what tests save in t.ArtifactDir() (the console's browser screenshots) under
	# testdata-out/_artifacts/ (gitignored; CI keeps it); go test wants -outputdir to exist.
	mkdir -p testdata-out
	$(GO) test -race -count=1 -timeout 15m -artifacts -outputdir testdata-out ./...
	# The gateway's tests run on shared lanes (moat's default); run them again on dedicated lanes alone.
	MOAT_TEST_SHARED_LANES=0 $(GO) test -race -count=1 -timeout 10m ./internal/gateway/
	# Show that the nftables namespace test ran (or why it was skipped): it needs root and namespaces.
	$(GO) test -count=1 -v -run '^TestRulesetInNetworkNamespace$$' ./internal/controlplane/firewall/
	# Likewise protected mode from a real non-loopback address (a network namespace and a veth pair).
	$(GO) test -count=1 -v -run '^TestProtectedModeFromNonLoopback$$' ./internal/gateway/
	FUZZTIME=$${FUZZTIME:-10s} ./scripts/fuzz.sh
	# -short: benchmarks that build large fixtures (the audit log's million records) build small ones.
	$(GO) test -short -run '^$$' -bench . -benchtime 100x ./...

fuzz:
	FUZZTIME=$${FUZZTIME:-1m} ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The benchmark harness (bench/, its own Go module, not part of ./...): moat against direct Redis, HAProxy
# and twemproxy on loopback, round-robin. ROUNDS=1 for a smoke run; results in bench/out/<UTC time>/.
bench-harness:
	./bench/run.sh
