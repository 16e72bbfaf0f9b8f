package engine

import "fmt"

// Bounds of the source the engine hands gopher-lua's parser and compiler,
// which recurse once per level of the syntax tree on the Go stack and look
// constants up in a list: source nested or chained without bound would
// overflow the Go stack (a fatal error, not a panic), and a chunk of
// countless literals takes time quadratic in their number. scanSource
// refuses both before the parser sees the source.
const (
	// MaxSyntaxDepth bounds how deep a chunk's syntax nests: every open
	// bracket and block (function, if, do, repeat) is a level, and so is
	// every operator, unary or binary, and every suffix (.name, :m(), [k],
	// a call) chained in one expression. Lua 5.1 refuses 200 levels of
	// nesting and of right-associative or unary chains; this bound is
	// looser, so that every chunk Lua compiles, compiles.
	MaxSyntaxDepth = 1000

	// MaxLoadSize bounds the source of one load or loadstring call, in
	// bytes. Namespace files and modules, the operator's, are bounded only
	// by MaxSyntaxDepth.
	MaxLoadSize = 256 << 10

	// maxLoadLookups bounds the constant look-ups the compiler makes for
	// one load: it looks every name and literal up in the list of its
	// function's constants so far, so that a chunk of n distinct ones takes
	// time quadratic in n. The scan counts, for every name and literal,
	// the distinct ones before it in the whole chunk (more than any one
	// function has); 1e7 look-ups compile in about 0.1 s.
	maxLoadLookups = 10_000_000
)

// scanLimits says what scanSource bounds besides the depth.
type scanLimits struct {
	lookups int // constant look-ups; 0 means unbounded
}

// scanError is where and why scanSource refused a chunk.
type scanError struct {
	line int
	msg  string
}

// scanSource reports whether src nests deeper than MaxSyntaxDepth or needs
// more constant look-ups than lim allows. It reads Lua 5.1's tokens (comments and
// strings, long ones too, are skipped whole) without parsing: its depth is
// an estimate that only ever counts more than the parser's, never less. It
// allocates its stack of open levels, and the set of names and literals
// when look-ups are bounded; it reports nothing about malformed source,
// which the parser reports.
func scanSource(src []byte, lim scanLimits) *scanError {
	s := scanner{src: src, line: 1, lim: lim}
	if lim.lookups > 0 {
		s.constants = make(map[string]struct{})
	}
	return s.run()
}

type scanner struct {
	src  []byte
	pos  int
	line int

	// chains holds, for every open level, the operators chained in the
	// expression that opened the next one; chain is the current level's.
	chains  []int
	chain   int
	depth   int  // open levels plus every chain: the tree's depth
	operand bool // the last token ends an operand

	lim       scanLimits
	start     int                 // where the last token starts
	constants map[string]struct{} // names and literals so far; nil when unbounded
	lookups   int
}

// token kinds that matter to the depth.
const (
	tokOther   = iota
	tokOperand // nil, true, false, ...
	tokName    // a name: an operand and maybe a constant
	tokLiteral // a number or a string: an operand and a constant
	tokString  // a string: a call suffix after an operand
	tokOpen    // ( [ {
	tokClose   // ) ] }
	tokBinary  // an operator between operands, or a unary one
	tokMinus   // binary after an operand, unary before one
	tokDot     // . and :
	tokReset   // , ; = and the keywords that start or part statements
	tokBlock   // function if do repeat: a level opens
	tokEnd     // end until: a level closes
	tokEOF
)

var keywords = map[string]int{
	"and": tokBinary, "or": tokBinary, "not": tokBinary,
	"nil": tokOperand, "true": tokOperand, "false": tokOperand,
	"function": tokBlock, "if": tokBlock, "do": tokBlock, "repeat": tokBlock,
	"end": tokEnd, "until": tokEnd,
	"local": tokReset, "return": tokReset, "then": tokReset, "else": tokReset,
	"elseif": tokReset, "in": tokReset, "break": tokReset, "while": tokReset,
	"for": tokReset,
}

func (s *scanner) fail(format string, args ...any) *scanError {
	return &scanError{line: s.line, msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) run() *scanError {
	for {
		kind, err := s.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokEOF:
			return nil
		case tokLiteral, tokString:
			if err := s.constant(); err != nil {
				return err
			}
			if kind == tokString && s.operand { // f"s": a call
				s.chain++
				s.depth++
			} else if s.operand { // two operands in a row: a new statement
				s.reset()
			}
			s.operand = true
		case tokOperand, tokName:
			if kind == tokName {
				if err := s.constant(); err != nil {
					return err
				}
			}
			if s.operand {
				s.reset()
			}
			s.operand = true
		case tokOpen:
			if s.operand { // a call or an index: a suffix
				s.chain++
				s.depth++
			}
			s.open()
		case tokBlock:
			s.reset()
			s.open()
		case tokClose, tokEnd:
			s.close()
			// An end may close a function literal, an operand: the scan
			// does not tell blocks apart, so it takes every end for one,
			// which at worst joins two statements' chains.
			s.operand = true
		case tokBinary, tokMinus, tokDot:
			s.chain++
			s.depth++
			s.operand = false
		case tokReset:
			s.reset()
		}
		if s.depth > MaxSyntaxDepth {
			return s.fail("nested or chained deeper than %d levels", MaxSyntaxDepth)
		}
	}
}

// constant counts the look-ups of the name or literal just read.
func (s *scanner) constant() *scanError {
	if s.constants == nil {
		return nil
	}
	if _, ok := s.constants[string(s.src[s.start:s.pos])]; !ok {
		s.constants[string(s.src[s.start:s.pos])] = struct{}{}
	}
	s.lookups += len(s.constants)
	if s.lookups > s.lim.lookups {
		return s.fail("too many distinct names and literals to compile in time")
	}
	return nil
}

// open opens a level.
func (s *scanner) open() {
	s.chains = append(s.chains, s.chain)
	s.chain = 0
	s.depth++
	s.operand = false
}

// close closes the innermost level, if any (a stray closer is the parser's
// to report).
func (s *scanner) close() {
	s.depth -= s.chain
	s.chain = 0
	if n := len(s.chains); n > 0 {
		s.chain = s.chains[n-1]
		s.chains = s.chains[:n-1]
		s.depth--
	}
}

// reset ends the current level's chain: a new expression begins.
func (s *scanner) reset() {
	s.depth -= s.chain
	s.chain = 0
	s.operand = false
}

// next reads one token and returns its kind.
func (s *scanner) next() (int, *scanError) {
	src := s.src
	for s.pos < len(src) {
		s.start = s.pos
		c := src[s.pos]
		switch {
		case c == '\n':
			s.line++
			s.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			s.pos++
		case c == '-' && s.peek(1) == '-':
			if long, err := s.skipComment(); long {
				return 0, err
			}
		case c == '"' || c == '\'':
			s.skipQuoted(c)
			return tokString, nil
		case c == '[':
			if level, ok := s.longOpen(); ok {
				if err := s.skipLong(level); err != nil {
					return 0, err
				}
				return tokString, nil
			}
			s.pos++
			return tokOpen, nil
		case c == '(' || c == '{':
			s.pos++
			return tokOpen, nil
		case c == ')' || c == ']' || c == '}':
			s.pos++
			return tokClose, nil
		case c == ',' || c == ';':
			s.pos++
			return tokReset, nil
		case c == '=':
			if s.peek(1) == '=' {
				s.pos += 2
				return tokBinary, nil
			}
			s.pos++
			return tokReset, nil
		case c == '-':
			s.pos++
			return tokMinus, nil
		case c == '.':
			return s.dots(), nil
		case c == ':':
			s.pos++
			return tokDot, nil
		case c == '~' || c == '<' || c == '>':
			s.pos++
			if s.peek(0) == '=' {
				s.pos++
			}
			return tokBinary, nil
		case c == '+' || c == '*' || c == '/' || c == '%' || c == '^' || c == '#':
			s.pos++
			return tokBinary, nil
		case isDigit(c):
			s.skipNumber()
			return tokLiteral, nil
		case isNameStart(c):
			return s.name(), nil
		default:
			s.pos++ // the parser reports it
		}
	}
	return tokEOF, nil
}

// skipComment skips the comment at pos, "--" then a line or a long
// bracket. long says whether it was a long comment, whose end the scan
// did not reach when err is set; the caller returns then.
func (s *scanner) skipComment() (long bool, err *scanError) {
	s.pos += 2
	if s.peek(0) == '[' {
		if level, ok := s.longOpen(); ok {
			return true, s.skipLong(level)
		}
	}
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
	return false, nil
}

// dots reads the token at pos that starts with a dot: "...", "..", a
// number such as .5, or ".".
func (s *scanner) dots() int {
	switch {
	case s.peek(1) == '.' && s.peek(2) == '.':
		s.pos += 3
		return tokOperand
	case s.peek(1) == '.':
		s.pos += 2
		return tokBinary
	case isDigit(s.peek(1)):
		s.skipNumber()
		return tokLiteral
	}
	s.pos++
	return tokDot
}

// name reads the name or keyword at pos.
func (s *scanner) name() int {
	start := s.pos
	for s.pos < len(s.src) && (isNameStart(s.src[s.pos]) || isDigit(s.src[s.pos])) {
		s.pos++
	}
	if kind, ok := keywords[string(s.src[start:s.pos])]; ok {
		return kind
	}
	return tokName
}

func (s *scanner) peek(i int) byte {
	if s.pos+i < len(s.src) {
		return s.src[s.pos+i]
	}
	return 0
}

// longOpen reads the opening bracket of a long string or comment at pos,
// [[ or [=*[, and returns its level; it reads nothing if there is none.
func (s *scanner) longOpen() (int, bool) {
	i := s.pos + 1
	for i < len(s.src) && s.src[i] == '=' {
		i++
	}
	if i < len(s.src) && s.src[i] == '[' {
		level := i - s.pos - 1
		s.pos = i + 1
		return level, true
	}
	return 0, false
}

// skipLong skips a long string or comment up to its closing bracket of
// level equals signs.
func (s *scanner) skipLong(level int) *scanError {
	src := s.src
	for s.pos < len(src) {
		c := src[s.pos]
		s.pos++
		switch c {
		case '\n':
			s.line++
		case ']':
			i := s.pos
			for i < len(src) && src[i] == '=' {
				i++
			}
			if i-s.pos == level && i < len(src) && src[i] == ']' {
				s.pos = i + 1
				return nil
			}
		}
	}
	return nil // unfinished: the parser reports it
}

// skipQuoted skips a string quoted with q.
func (s *scanner) skipQuoted(q byte) {
	src := s.src
	s.pos++
	for s.pos < len(src) {
		c := src[s.pos]
		s.pos++
		switch c {
		case q:
			return
		case '\n':
			s.line++
			return // unfinished: the parser reports it
		case '\\':
			if s.pos < len(src) {
				if src[s.pos] == '\n' {
					s.line++
				}
				s.pos++
			}
		}
	}
}

// skipNumber skips a number: digits, letters (hex digits, exponents), dots
// and a decimal exponent's sign.
func (s *scanner) skipNumber() {
	src := s.src
	hex := s.peek(0) == '0' && (s.peek(1) == 'x' || s.peek(1) == 'X')
	for s.pos < len(src) {
		c := src[s.pos]
		switch {
		case isDigit(c) || isNameStart(c) || c == '.':
			s.pos++
		case (c == '+' || c == '-') && !hex && (src[s.pos-1] == 'e' || src[s.pos-1] == 'E'):
			s.pos++
		default:
			return
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}
