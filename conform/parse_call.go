package conform

import (
	"strconv"
	"strings"
	"syscall"
)

// constants are the names a script may use in syscall arguments and
// return values, with their Linux values.
var constants = map[string]int64{
	"AF_INET": 2, "AF_INET6": 10, "SOCK_STREAM": 1, "IPPROTO_TCP": 6, "IPPROTO_IP": 0,
	"SOL_SOCKET": 1, "SOL_TCP": 6,
	"SO_REUSEADDR": 2, "SO_TYPE": 3, "SO_ERROR": 4, "SO_SNDBUF": 7, "SO_RCVBUF": 8,
	"SO_KEEPALIVE": 9, "SO_LINGER": 13, "SO_REUSEPORT": 15,
	"TCP_NODELAY": 1, "TCP_KEEPIDLE": 4, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 6, "TCP_LINGER2": 8, "TCP_USER_TIMEOUT": 18,
	"SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
	"F_GETFL": linuxFGetFL, "F_SETFL": linuxFSetFL,
	"O_RDONLY": linuxORdOnly, "O_WRONLY": linuxOWrOnly, "O_RDWR": linuxORdWr, "O_NONBLOCK": linuxONonblock,
	"POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8, "POLLHUP": 0x10,
	"POLLNVAL": 0x20, "POLLRDNORM": 0x40, "POLLRDBAND": 0x80, "POLLWRNORM": 0x100,
	"POLLWRBAND": 0x200, "POLLRDHUP": 0x2000,
	"MSG_DONTWAIT": 0x40, "MSG_NOSIGNAL": 0x4000,
}

// errnos are the error names a script may expect.
var errnos = map[string]syscall.Errno{
	"EPERM": syscall.EPERM, "EINTR": syscall.EINTR, "EBADF": syscall.EBADF,
	"EAGAIN": syscall.EAGAIN, "EWOULDBLOCK": syscall.EAGAIN, "EFAULT": syscall.EFAULT,
	"EINVAL": syscall.EINVAL, "EPIPE": syscall.EPIPE, "ENOTSOCK": syscall.ENOTSOCK,
	"ENOPROTOOPT": syscall.ENOPROTOOPT, "EOPNOTSUPP": syscall.EOPNOTSUPP,
	"EADDRINUSE": syscall.EADDRINUSE, "EADDRNOTAVAIL": syscall.EADDRNOTAVAIL,
	"ENETUNREACH": syscall.ENETUNREACH, "ECONNABORTED": syscall.ECONNABORTED,
	"ECONNRESET": syscall.ECONNRESET, "EISCONN": syscall.EISCONN, "ENOTCONN": syscall.ENOTCONN,
	"ETIMEDOUT": syscall.ETIMEDOUT, "ECONNREFUSED": syscall.ECONNREFUSED,
	"EHOSTUNREACH": syscall.EHOSTUNREACH, "EALREADY": syscall.EALREADY,
	"EINPROGRESS": syscall.EINPROGRESS, "ESHUTDOWN": syscall.ESHUTDOWN,
}

// errnoName is the script's name for an errno (EAGAIN, not EWOULDBLOCK).
func errnoName(e syscall.Errno) string {
	best := ""
	for n, v := range errnos {
		if v == e && (best == "" || n < best) {
			best = n
		}
	}
	if best == "" {
		return "errno " + strconv.Itoa(int(e))
	}
	return best
}

// syscalls are the calls a script may make, with their argument counts.
var syscalls = map[string]int{
	"socket": 3, "bind": 3, "listen": 2, "accept": 3, "connect": 3,
	"read": 3, "write": 3, "send": 4, "recv": 4, "shutdown": 2, "close": 1, "dup": 1,
	"setsockopt": 5, "getsockopt": 5, "fcntl": -1, "poll": 3,
}

// syscall parses "name(args) = ret [ERRNO [(text)]]".
func (p *lineParser) syscall(line string) (*Syscall, error) {
	open := strings.IndexByte(line, '(')
	if open <= 0 {
		return nil, p.errf("want a packet (< or >), a `shell command` or a system call name(args) = result; got %q", line)
	}
	c := &Syscall{Name: strings.TrimSpace(line[:open])}
	nargs, ok := syscalls[c.Name]
	if !ok {
		return nil, p.errf("unsupported system call %q", c.Name)
	}
	lx := &lexer{p: p, s: line[open:]}
	args, err := lx.callArgs()
	if err != nil {
		return nil, err
	}
	c.Args = args
	if nargs >= 0 && len(args) != nargs || nargs < 0 && (len(args) < 2 || len(args) > 3) {
		want := strconv.Itoa(nargs)
		if nargs < 0 {
			want = "2 or 3"
		}
		return nil, p.errf("%s takes %s arguments, got %d", c.Name, want, len(args))
	}
	rest := strings.TrimSpace(lx.s[lx.i:])
	if !strings.HasPrefix(rest, "=") {
		return nil, p.errf("%s: want \"= RESULT\" after the arguments", c.Name)
	}
	rest = strings.TrimSpace(rest[1:])
	lx = &lexer{p: p, s: rest}
	ret, err := lx.expr()
	if err != nil {
		return nil, err
	}
	if ret.Kind != ExprInt {
		return nil, p.errf("%s: the result must be a number", c.Name)
	}
	c.Ret = ret.Int
	rest = strings.TrimSpace(lx.s[lx.i:])
	if rest != "" {
		name, text, _ := strings.Cut(rest, " ")
		if _, ok := errnos[name]; !ok {
			return nil, p.errf("%s: unknown errno %q", c.Name, name)
		}
		text = strings.TrimSpace(text)
		if text != "" && (!strings.HasPrefix(text, "(") || !strings.HasSuffix(text, ")")) {
			return nil, p.errf("%s: after the errno only \"(description)\" may follow, got %q", c.Name, text)
		}
		if c.Ret != -1 {
			return nil, p.errf("%s: an errno needs the result -1", c.Name)
		}
		c.Errno = name
	} else if c.Ret == -1 {
		return nil, p.errf("%s: result -1 needs an errno name", c.Name)
	}
	return c, nil
}

// lexer reads syscall arguments.
type lexer struct {
	p     *lineParser
	s     string
	i     int
	depth int
}

// maxDepth bounds nesting of [ ] and { }.
const maxDepth = 8

func (l *lexer) skip() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t') {
		l.i++
	}
}

func (l *lexer) peek() byte {
	l.skip()
	if l.i < len(l.s) {
		return l.s[l.i]
	}
	return 0
}

func (l *lexer) expect(c byte) error {
	if l.peek() != c {
		if l.i >= len(l.s) {
			return l.p.errf("want %q, the line ended", c)
		}
		return l.p.errf("want %q at %q", c, l.s[l.i:])
	}
	l.i++
	return nil
}

// callArgs reads "(a, b, c)".
func (l *lexer) callArgs() ([]Expr, error) {
	return l.seq('(', ')')
}

// seq reads open expr, expr, ... close.
func (l *lexer) seq(open, close byte) ([]Expr, error) {
	if err := l.expect(open); err != nil {
		return nil, err
	}
	l.depth++
	if l.depth > maxDepth {
		return nil, l.p.errf("arguments nested more than %d deep", maxDepth)
	}
	defer func() { l.depth-- }()
	var out []Expr
	if l.peek() == close {
		l.i++
		return out, nil
	}
	for {
		e, err := l.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		switch l.peek() {
		case ',':
			l.i++
		case close:
			l.i++
			return out, nil
		default:
			return nil, l.p.errf("want ',' or %q in arguments at %q", close, l.s[l.i:])
		}
	}
}

// expr reads one argument.
func (l *lexer) expr() (Expr, error) {
	switch c := l.peek(); {
	case c == 0:
		return Expr{}, l.p.errf("want an argument, the line ended")
	case c == '[':
		elems, err := l.seq('[', ']')
		return Expr{Kind: ExprList, Elems: elems}, err
	case c == '{':
		return l.structExpr()
	case c == '"':
		end := strings.IndexByte(l.s[l.i+1:], '"')
		if end < 0 {
			return Expr{}, l.p.errf("unterminated string")
		}
		s := l.s[l.i+1 : l.i+1+end]
		l.i += end + 2
		return Expr{Kind: ExprString, Str: s}, nil
	case strings.HasPrefix(l.s[l.i:], "..."):
		l.i += 3
		return Expr{Kind: ExprEllipsis}, nil
	}
	return l.intExpr()
}

// structExpr reads "{name=value, ...}".
func (l *lexer) structExpr() (Expr, error) {
	l.i++ // '{'
	l.depth++
	if l.depth > maxDepth {
		return Expr{}, l.p.errf("arguments nested more than %d deep", maxDepth)
	}
	defer func() { l.depth-- }()
	e := Expr{Kind: ExprStruct}
	if l.peek() == '}' {
		l.i++
		return e, nil
	}
	for {
		l.skip()
		name := l.word()
		if name == "" {
			return e, l.p.errf("want field=value in {...}")
		}
		if err := l.expect('='); err != nil {
			return e, err
		}
		v, err := l.expr()
		if err != nil {
			return e, err
		}
		e.Fields = append(e.Fields, Field{name, v})
		switch l.peek() {
		case ',':
			l.i++
		case '}':
			l.i++
			return e, nil
		default:
			return e, l.p.errf("want ',' or '}' in {...}")
		}
	}
}

func isWord(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (l *lexer) word() string {
	l.skip()
	start := l.i
	for l.i < len(l.s) && isWord(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i]
}

// intExpr reads "A|B|C", each a number or a constant name.
func (l *lexer) intExpr() (Expr, error) {
	var v int64
	for {
		w := l.word()
		if w == "" {
			if l.i < len(l.s) {
				return Expr{}, l.p.errf("unexpected %q in arguments", l.s[l.i:])
			}
			return Expr{}, l.p.errf("want a value, the line ended")
		}
		var x int64
		if c, ok := constants[w]; ok {
			x = c
		} else if n, err := strconv.ParseInt(w, 0, 64); err == nil {
			x = n
		} else if w[0] >= 'A' && w[0] <= 'Z' {
			return Expr{}, l.p.errf("unknown constant %q", w)
		} else {
			return Expr{}, l.p.errf("bad number %q", w)
		}
		v |= x
		if l.peek() != '|' {
			return Expr{Kind: ExprInt, Int: v}, nil
		}
		l.i++
	}
}
