package cluster

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestParseServerData(t *testing.T) {
	started := time.Date(2026, 12, 1, 6, 52, 28, 0, time.UTC)
	for _, tc := range []struct {
		name, data string
		want       ServerData
	}{
		{"empty", "", ServerData{}},
		{"EDN nil, slacker cluster's default", "nil", ServerData{}},
		{"JSON", `{"version":"0.1.0","started_at":"2026-12-01T06:52:28Z","weight":2,"data":{"zone":"a"}}`,
			ServerData{Version: "0.1.0", StartedAt: started, Weight: 2, Data: map[string]any{"zone": "a"}}},
		{"JSON, empty", "{}", ServerData{}},
		{"EDN of a member", `{:started-at #inst "2026-12-01T06:52:28.000-00:00", :version "0.1.0", :weight 2, :zone "a"}`,
			ServerData{Version: "0.1.0", StartedAt: started, Weight: 2, Data: map[string]any{"zone": "a"}}},
		{"EDN of a Clojure server", `{:weight 3, :tags #{:a}, "k" (1 2), :m {:x nil}}`,
			ServerData{Weight: 3, Data: map[string]any{"tags": []any{":a"}, "k": []any{int64(1), int64(2)}, "m": map[string]any{"x": nil}}}},
		{"EDN, weight of the wrong type", `{:weight "heavy"}`, ServerData{Data: map[string]any{"weight": "heavy"}}},
		{"EDN, empty map", `{}`, ServerData{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseServerData([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if !got.StartedAt.Equal(tc.want.StartedAt) {
				t.Errorf("StartedAt %v, want %v", got.StartedAt, tc.want.StartedAt)
			}
			got.StartedAt, tc.want.StartedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"{:a", "[1 2]", `"s"`, `{"a": }`, "1 2"} {
		if _, err := ParseServerData([]byte(bad)); err == nil {
			t.Errorf("ParseServerData(%q): no error", bad)
		}
	}
}

// TestServerDataEDNRoundTrip checks that a member's EDN server data reads
// back as it was.
func TestServerDataEDNRoundTrip(t *testing.T) {
	d := ServerData{Version: "0.1.0", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), Weight: 5,
		HTTP: "10.0.0.1:8080", Offline: true, OfflineNamespaces: []string{"a.b", "c"},
		Data: map[string]any{"zone": "a", "rack": 3.5, "bad key": true, "weight": "theirs"}}
	b, err := encodeServerDataEDN(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseServerData(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := d
	want.Data = map[string]any{"zone": "a", "rack": 3.5, "bad key": true} // the member's weight wins
	if !got.StartedAt.Equal(want.StartedAt) || got.Version != want.Version || got.Weight != want.Weight || !reflect.DeepEqual(got.Data, want.Data) ||
		got.HTTP != want.HTTP || got.Offline != want.Offline || !slices.Equal(got.OfflineNamespaces, want.OfflineNamespaces) {
		t.Fatalf("%s read back as %#v", b, got)
	}
}

func TestFunctionEDN(t *testing.T) {
	for _, tc := range []struct {
		f    Function
		edn  string
		back Function // zero: f
	}{
		{Function{Name: "add", Doc: "Adds a and b.", Params: []string{"a", "b"}}, `{:arglists ([a b]) :doc "Adds a and b." :name add}`, Function{}},
		{Function{Name: "sum", Params: []string{"first", "..."}}, `{:arglists ([first & more]) :name sum}`, Function{}},
		{Function{Name: "none", Params: []string{}}, `{:arglists ([]) :name none}`, Function{}},
	} {
		b, err := encodeFunctionEDN(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.edn {
			t.Errorf("%s: %s, want %s", tc.f.Name, b, tc.edn)
		}
		got, err := parseFunctionEDN(tc.f.Name, b)
		want := tc.back
		if want.Name == "" {
			want = tc.f
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s read back as %#v, %v", b, got, err)
		}
	}
	// As slacker cluster's servers write them.
	for _, tc := range []struct {
		data string
		want Function
	}{
		{`{}`, Function{Name: "f"}},
		{``, Function{Name: "f"}},
		{`{:name f, :arglists ([x] [x y])}`, Function{Name: "f", Params: []string{"x"}}},
		{`{:name f, :doc "D", :arglists ([{:keys [a]} & opts])}`, Function{Name: "f", Doc: "D", Params: []string{"{:keys [a]}", "..."}}},
	} {
		got, err := parseFunctionEDN("f", []byte(tc.data))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q read as %#v, %v; want %#v", tc.data, got, err, tc.want)
		}
	}
}

func TestMutexLeader(t *testing.T) {
	kids := []string{
		"_c_9b0f1a2e-8a51-4c1e-9f34-2b0c2f5f0c11-lock-0000000012",
		"_c_1d4c3b2a-0000-4000-8000-000000000000-lock-0000000003",
		"stray",
		"_c_ffffffff-ffff-4fff-bfff-ffffffffffff-lock-0000000007",
	}
	if got := mutexLeader(kids); got != kids[1] {
		t.Fatalf("leader %q", got)
	}
	if got := mutexLeader(nil); got != "" {
		t.Fatalf("leader of none %q", got)
	}
}

// FuzzParseServerData checks that any data parses without panicking, and
// that data a member writes, in either format, reads back the same.
func FuzzParseServerData(f *testing.F) {
	for _, seed := range []string{
		"", "nil", "{}", `{"version":"0.1.0","started_at":"2026-12-01T06:52:28Z","weight":2,"data":{"zone":"a"}}`,
		`{:started-at #inst "2026-12-01T06:52:28.000-00:00", :version "0.1.0", :weight 2, :zone "a"}`,
		`{:weight 3, :tags #{:a}, "k" (1 2), :m {:x nil}}`, `{:weight 99999999999}`, "[1 2]", "{:a",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseServerData(b)
		if err != nil {
			return
		}
		e, err := encodeServerDataEDN(d)
		if err != nil {
			return // Data from JSON may hold what EDN can't say, such as a NaN
		}
		back, err := ParseServerData(e)
		if err != nil {
			t.Fatalf("%q wrote %s, which does not parse: %v", b, e, err)
		}
		if back.Weight != d.Weight || back.Version != d.Version || back.HTTP != d.HTTP || back.Offline != d.Offline || !slices.Equal(back.OfflineNamespaces, d.OfflineNamespaces) || !back.StartedAt.Truncate(time.Millisecond).Equal(d.StartedAt.Truncate(time.Millisecond).UTC()) && !d.StartedAt.IsZero() {
			t.Fatalf("%q: %#v read back as %#v", b, d, back)
		}
	})
}
