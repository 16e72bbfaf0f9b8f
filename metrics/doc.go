// Package metrics keeps a server's figures and serves them in Prometheus'
// text format: the calls by namespace, function and result code, their
// latency, the calls in flight, the build (slacker_build_info), and
// whatever gauges the server adds (connections, pool queues, files
// failing to load, ZooKeeper's session). Calls are counted by a
// transport.Interceptor.
package metrics
