package clojuretest

import "testing"

func TestRun(t *testing.T) {
	out := Run(t, `(require '[taoensso.nippy :as nippy])
(println (pr-str (clojure.edn/read-string (slurp *in*))))
(println (vec (nippy/fast-freeze nil)))`, []byte(`{:a [1 2N "x"]}`))
	want := "{:a [1 2N \"x\"]}\n[3]\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}
