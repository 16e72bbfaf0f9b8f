# The whole test suite: formatting, vet, every test with the race
# detector (fuzz seed corpora included), and the Lua tests of the examples.
# This is what CI runs. The cluster tests start real ZooKeeper servers:
# scripts/install-zookeeper installs Debian's zookeeper package first if it
# is missing.
.PHONY: test serve bench fuzz

test:
	@scripts/install-zookeeper
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go test -race -count=1 -timeout 10m ./...
	go run ./cmd/slacker-lua test examples/lua

# Serve the examples on 127.0.0.1:2104.
serve:
	go run ./cmd/slacker-lua serve examples/lua

# The benchmarks of the README's performance section: calls, and reloads
# (300 of them, for a p99).
bench:
	go test -run '^$$' -bench Add -benchtime 2s ./tests/
	go test -run '^$$' -bench Reload -benchtime 300x ./tests/

# A minute of fuzzing for each decoder.
fuzz:
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzParseEDN -fuzztime 60s ./transport/
