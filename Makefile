# The whole test suite: formatting, vet, every test with the race
# detector (fuzz seed corpora included), the Lua tests of the examples, and
# the unit tests of the comparison harness (a module of its own; the
# comparison itself is `make compare`). This is what CI runs. The cluster
# tests start real ZooKeeper servers, the EDN and nippy codecs are checked
# against Debian's Clojure and nippy, and the web console's tests drive a
# headless chromium: scripts/install-deps installs Debian's zookeeper,
# clojure, libnippy-clojure and chromium packages first if they are
# missing.
.PHONY: test serve bench compare fuzz scale

test:
	@scripts/install-deps
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go test -race -count=1 -timeout 10m ./...
	go run ./cmd/slacker-lua test examples/lua
	cd tests/compare && go vet ./... && go test -race -count=1 ./...

# Serve the examples on 127.0.0.1:2104.
serve:
	go run ./cmd/slacker-lua serve examples/lua

# The benchmarks of the README's performance section: calls, and reloads
# (300 of them, for a p99).
bench:
	go test -run '^$$' -bench Add -benchtime 2s ./tests/
	go test -run '^$$' -bench Reload -benchtime 300x ./tests/

# slacker-lua beside Redis, gRPC and the practical-limit probe: the table
# of the README's performance section, and compare.png.
compare:
	tests/compare/run.sh -d 3s -rounds 3 -png compare.png

# The cluster at scale, as CLUSTER.md's "Scale" section reports it: up to
# 1,000 servers of 100 namespaces on a 3-member ZooKeeper ensemble (about
# 10 minutes; the suite runs a short version).
scale:
	go test -run TestScale -timeout 60m -v ./tests/scale -scale.n 10,100,1000 -scale.k 10,100 -scale.clients 10 -scale.session 10s -scale.out scale.md

# A minute of fuzzing for each decoder.
fuzz:
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzParseEDN -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzJSONAppend -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzMatch -fuzztime 60s ./engine/internal/pattern/
	go test -run '^$$' -fuzz FuzzParseAuth -fuzztime 60s ./cluster/
	go test -run '^$$' -fuzz FuzzParseServerData -fuzztime 60s ./cluster/
	go test -run '^$$' -fuzz FuzzScan -fuzztime 60s ./engine/
	go test -run '^$$' -fuzz FuzzJSONScan -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzMsgpackCheck -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzValid -fuzztime 60s ./tracectx/
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./internal/otlp/
	go test -run '^$$' -fuzz FuzzCallTrace -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzEDNDecode -fuzztime 60s ./transport/
	go test -run '^$$' -fuzz FuzzNippyDecode -fuzztime 60s ./transport/
