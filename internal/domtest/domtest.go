// Package domtest has the few HTML DOM helpers the page tests share.
package domtest

import (
	"strings"

	"golang.org/x/net/html"
)

// Attr returns n's attribute key and whether it is there.
func Attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// HasClass reports whether n's class attribute lists c.
func HasClass(n *html.Node, c string) bool {
	v, _ := Attr(n, "class")
	for _, f := range strings.Fields(v) {
		if f == c {
			return true
		}
	}
	return false
}

// FindAll returns the elements under n (n included) for which pred holds,
// in document order.
func FindAll(n *html.Node, pred func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && pred(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}
