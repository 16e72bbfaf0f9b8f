package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// argHelp is the rules of a function's arguments on the command line,
// which parseArg follows, told in the help of call and bench.
const argHelp = "Each ARG is a JSON value: 1, 2.5, true, null, \"text\", [1,2], {\"a\":1}. A bare\n" +
	"word that does not look like JSON is sent as a string, so `echo hello` works;\n" +
	"an ARG that starts with {, [ or \" or reads as a number, but is not valid JSON,\n" +
	"is a usage error (quote a string: '\"[not json\"'). @FILE is the JSON in FILE,\n" +
	"and - the JSON on stdin. With --raw, every ARG is sent as a string, as typed,\n" +
	"and @FILE and - send the file's or stdin's text as a string."

// jsonNumberRE matches the words that read as numbers, JSON's or not
// (012, +1, .5): parseArg takes them for JSON, and interspersed for
// arguments, not flags.
var jsonNumberRE = regexp.MustCompile(`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$`)

// checkFunction checks a function's name, NAMESPACE/FUNCTION, before it
// is sent.
func checkFunction(name string) error {
	ns, fn, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		return fmt.Errorf("%q is no function: want NAMESPACE/FUNCTION, such as slacker.example.math/add", name)
	case ns == "" || fn == "":
		return fmt.Errorf("%q: want NAMESPACE/FUNCTION, both parts non-empty", name)
	}
	return nil
}

// parseArgs reads the arguments of a call (see argHelp), raw as --raw
// asks; - reads stdin, once.
func parseArgs(args []string, raw bool, stdin io.Reader) ([]any, error) {
	out := make([]any, 0, len(args))
	readStdin := false
	for _, a := range args {
		var text string
		from := "" // where text came from, when not the command line
		switch {
		case a == "-":
			if readStdin {
				return nil, errors.New("- given twice: stdin can be read once")
			}
			readStdin = true
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin for -: %v", err)
			}
			text, from = string(b), "stdin"
		case strings.HasPrefix(a, "@") && len(a) > 1:
			b, err := os.ReadFile(a[1:])
			if err != nil {
				return nil, fmt.Errorf("argument %s: %v", a, errors.Unwrap(err))
			}
			text, from = string(b), a[1:]
		default:
			if raw {
				out = append(out, a)
				continue
			}
			v, err := parseArg(a)
			if err != nil {
				return nil, fmt.Errorf("argument %s is not valid JSON: %v (--raw sends it as a string)", a, err)
			}
			out = append(out, v)
			continue
		}
		if raw {
			out = append(out, text)
			continue
		}
		v, err := decodeJSON(text)
		if err != nil {
			return nil, fmt.Errorf("%s: not valid JSON: %v (--raw sends its text as a string)", from, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseArg reads an argument of the command line: JSON when it looks like
// JSON (it starts with {, [ or ", or reads as a number, or is true, false
// or null), which must then be valid; a string otherwise.
func parseArg(s string) (any, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return s, nil
	case strings.ContainsRune(`{["`, rune(t[0])), jsonNumberRE.MatchString(t), t == "true", t == "false", t == "null":
		return decodeJSON(s)
	}
	return s, nil
}

// decodeJSON decodes one JSON value, and nothing after it but space, with
// integers kept integers.
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("unexpected end of JSON input")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more after the JSON value")
	}
	return normalizeNumbers(v), nil
}

// normalizeNumbers turns json.Numbers into int64 where they are integers and
// float64 otherwise, so integers stay integers on the wire.
func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = normalizeNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalizeNumbers(v[k])
		}
	}
	return v
}
