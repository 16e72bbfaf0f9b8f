module github.com/slacker-lua/slacker-lua/tests/compare

go 1.26

require github.com/slacker-lua/slacker-lua v0.0.0

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/go-zookeeper/zk v1.0.4 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	github.com/yuin/gopher-lua v1.1.2 // indirect
	golang.org/x/sys v0.26.0 // indirect
)

replace github.com/slacker-lua/slacker-lua => ../..
