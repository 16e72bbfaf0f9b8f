package pattern

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// find runs string.find's matching of pat on subj from init (1-based, as
// in Lua) and renders what Lua returns: "start end captures...", "nil", or
// "error: message".
func find(subj, pat string, init int) string {
	p, err := Compile(pat)
	if err != nil {
		return "error: " + err.Error()
	}
	m := p.Matcher(context.Background(), subj)
	start, end, ok, err := m.Find(Start(init, len(subj)))
	if err != nil {
		return "error: " + err.Error()
	}
	if !ok {
		return "nil"
	}
	return render(m, start, end)
}

// The results are Lua 5.1's.
var findCases = []struct {
	subj, pat string
	init      int
	want      string
}{
	// Plain characters, anchors.
	{"hello world", "o w", 1, "5 7"},
	{"hello", "", 1, "1 0"},
	{"hello", "", 3, "3 2"},
	{"hello", "", 10, "6 5"},
	{"hello", "x", 1, "nil"},
	{"hello", "^h", 1, "1 1"},
	{"hello", "^e", 1, "nil"},
	{"hello", "^e", 2, "2 2"},
	{"hello", "o$", 1, "5 5"},
	{"hello", "l$", 1, "nil"},
	{"abc", "$", 1, "4 3"},
	{"a$b", "$b", 1, "2 3"},
	{"a^b", "a^b", 1, "1 3"},
	{"abc", "c", -1, "3 3"},
	{"abc", "b", -1, "nil"},
	{"abc", "a", -10, "1 1"},
	// Classes and sets.
	{"a.b", "%.", 1, "2 2"},
	{"a.b", ".", 1, "1 1"},
	{"A1 b2", "%u%d", 1, "1 2"},
	{"A1 b2", "%l%d", 1, "4 5"},
	{"x\x00y", "%z", 1, "2 2"},
	{"x\x00y", "%Z+", 1, "1 1"},
	{"a,b", "%p", 1, "2 2"},
	{"a\tb", "%s", 1, "2 2"},
	{"ab12", "%D+", 1, "1 2"},
	{"ab12", "%d+", 1, "3 4"},
	{"ab 12", "%W", 1, "3 3"},
	{"zz1F", "%x+", 1, "3 4"},
	{"a\x7fb", "%c", 1, "2 2"},
	{"abc", "%g", 1, "nil"},
	{"g", "%g", 1, "1 1"},
	{"x-y", "[a-]", 1, "2 2"},
	{"x-y", "[-a]", 1, "2 2"},
	{"]", "[]]", 1, "1 1"},
	{"]a", "[^]]", 1, "2 2"},
	{"a]", "[%]]", 1, "2 2"},
	{"abc-", "[%a-]+", 1, "1 4"},
	{"m5", "[a-z][0-9]", 1, "1 2"},
	{"M5", "[^a-z]+", 1, "1 2"},
	{"[test]", "[%[](%a+)[%]]", 1, `1 6 "test"`},
	{"a.b", "[.]", 1, "2 2"},
	{"ab", "[%w_]+", 1, "1 2"},
	// Repetitions.
	{"hello", "l+", 1, "3 4"},
	{"aaa", "a*", 1, "1 3"},
	{"", "a*", 1, "1 0"},
	{"b", "a?b", 1, "1 1"},
	{"ab", "a?b", 1, "1 2"},
	{"hello", ".-l", 1, "1 3"},
	{"hello", ".*l", 1, "1 4"},
	{"aaab", "a-b", 1, "1 4"},
	{"aaa", "a-b", 1, "nil"},
	{"aaab", "^(a-)", 1, `1 0 ""`},
	{"*a", "*a", 1, "1 2"},
	{"a**", "a**", 1, "1 2"},
	{"aa*", "a***", 1, "1 3"},
	{"a?", "a??", 1, "1 2"},
	// Captures.
	{"key = value", "(%w+)%s*=%s*(%w+)", 1, `1 11 "key" "value"`},
	{"hello", "()ll()", 1, "3 4 3 5"},
	{"  x", "^%s*()", 1, "1 2 3"},
	{"aaa", "()", 2, "2 1 2"},
	{"THE (quick) fox", "%((%a+)%)", 1, `5 11 "quick"`},
	{"abc", "((a)(b))", 1, `1 2 "ab" "a" "b"`},
	{"hello", "(l)%1", 1, `3 4 "l"`},
	{"abcabc", "(abc)%1", 1, `1 6 "abc"`},
	{"abcabd", "(abc)%1", 1, "nil"},
	{"aa", "()%1", 1, "nil"},
	{`say "hi" now`, `(["'])(.-)%1`, 1, `5 8 "\"" "hi"`},
	// %b and %f.
	{"f(a(b)c)d", "%b()", 1, "2 8"},
	{"f(a(b)c", "%b()", 1, "4 6"},
	{"x'a'b'", "%b''", 1, "2 4"},
	{"THE (quick) fox", "%f[%a]%a+", 1, "1 3"},
	{"THE (quick) fox", "%f[%a]%a+", 2, "6 10"},
	{"hello", "%f[%z]", 1, "6 5"},
	{"hello", "%f[%Z]", 1, "1 0"},
	{"ab", "%f[%z]", 2, "3 2"},
	{"ab", "b%f[%z]", 1, "2 2"},
	{"the cat", "%f[%w]%w+$", 1, "5 7"},
	{"%b", "%%b", 1, "1 2"},
	{"(x)*", "%b()*", 1, "1 4"},
	// Errors.
	{"a", "%", 1, "error: malformed pattern (ends with '%')"},
	{"a", "a%", 1, "error: malformed pattern (ends with '%')"},
	{"a", "[a", 1, "error: malformed pattern (missing ']')"},
	{"a", "[]", 1, "error: malformed pattern (missing ']')"},
	{"a", "[%]", 1, "error: malformed pattern (missing ']')"},
	{"a", "[a%", 1, "error: malformed pattern (missing ']')"},
	{"a", "%f", 1, "error: missing '[' after '%f' in pattern"},
	{"a", "%fa", 1, "error: missing '[' after '%f' in pattern"},
	{"a", "%f[a", 1, "error: malformed pattern (missing ']')"},
	{"a", "(", 1, "error: unfinished capture"},
	{"a", "(()", 1, "error: unfinished capture"},
	{"a", ")", 1, "error: invalid pattern capture"},
	{"a", "(a))", 1, "error: invalid pattern capture"},
	{"a", "%1", 1, "error: invalid capture index"},
	{"a", "%0", 1, "error: invalid capture index"},
	{"a", "(a%1)", 1, "error: invalid capture index"},
	{"a", "(a)%2", 1, "error: invalid capture index"},
	{"a", "%b", 1, "error: malformed pattern (missing arguments to '%b')"},
	{"a", "%b(", 1, "error: malformed pattern (missing arguments to '%b')"},
	{"a", strings.Repeat("()", 33), 1, "error: too many captures"},
	{strings.Repeat("a", MaxDepth), strings.Repeat("a?", MaxDepth), 1, "error: pattern too complex"},
	{strings.Repeat("a", MaxDepth), strings.Repeat("a?", MaxDepth-1), 1, fmt.Sprintf("1 %d", MaxDepth-1)},
}

func TestFind(t *testing.T) {
	for _, c := range findCases {
		if got := find(c.subj, c.pat, c.init); got != c.want {
			t.Errorf("find(%q, %q, %d) = %s, want %s", c.subj, c.pat, c.init, got, c.want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	_, err := Compile("[a")
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("Compile([a): %v, want ErrMalformed", err)
	}
	p, err := Compile(strings.Repeat("a?", 300))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = p.Matcher(nil, strings.Repeat("a", 300)).Find(0)
	if !errors.Is(err, ErrTooComplex) {
		t.Errorf("Find: %v, want ErrTooComplex", err)
	}
	if _, err := Compile(strings.Repeat("()", MaxCaptures)); err != nil {
		t.Errorf("%d captures: %v", MaxCaptures, err)
	}
}

// TestLongSubject: repetitions don't recurse per byte, so a long subject
// needs no depth.
func TestLongSubject(t *testing.T) {
	s := strings.Repeat("a", 1<<20) + "b"
	for _, pat := range []string{".*b", ".-b", "a+b", "(a*)b", "^[^b]*()"} {
		p, err := Compile(pat)
		if err != nil {
			t.Fatal(err)
		}
		_, end, ok, err := p.Matcher(nil, s).Find(0)
		if err != nil || !ok || end < 1<<20 {
			t.Errorf("%q: end %d, %v, %v", pat, end, ok, err)
		}
	}
}

func TestGmatchIgnoresCaret(t *testing.T) {
	p, err := CompileUnanchored("^a")
	if err != nil {
		t.Fatal(err)
	}
	if p.Anchored() {
		t.Fatal("anchored")
	}
	if s, _, ok, _ := p.Matcher(nil, "x^a").Find(0); !ok || s != 1 {
		t.Fatalf("found at %d, %v; want 1", s, ok)
	}
}

func TestIsPlain(t *testing.T) {
	for p, want := range map[string]bool{"abc": true, "": true, "a b]": true, "a.b": false, "%a": false, "a-": false, "(": false, "x$": false} {
		if IsPlain(p) != want {
			t.Errorf("IsPlain(%q) = %v", p, !want)
		}
	}
}

// slow are patterns whose cost grows as a power of the subject.
var slow = []string{"(.-)(.-)(.-)b", "(.*)(.*)(.*)b", "a*a*a*a*a*b", "(a-)(a-)(a-)(a-)%1%2%3%4b"}

func TestContextStops(t *testing.T) {
	subj := strings.Repeat("a", 2000)
	for _, pat := range slow {
		p, err := Compile(pat)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _, ok, err := p.Matcher(ctx, subj).Find(0)
		cancel()
		if ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%q: %v, %v; want the deadline's error", pat, ok, err)
		}
		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		if _, _, err := p.Matcher(ctx, subj).MatchAt(0); !errors.Is(err, context.Canceled) {
			t.Errorf("%q MatchAt: %v; want canceled", pat, err)
		}
	}
}
