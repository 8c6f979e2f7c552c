package domtest

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestHelpers(t *testing.T) {
	doc, err := html.Parse(strings.NewReader(`<div class="a b" id="x"><span class="b"></span><p></p></div>`))
	if err != nil {
		t.Fatal(err)
	}
	bs := FindAll(doc, func(n *html.Node) bool { return HasClass(n, "b") })
	if len(bs) != 2 || bs[0].Data != "div" || bs[1].Data != "span" {
		t.Fatalf("FindAll class b: %d nodes", len(bs))
	}
	if v, ok := Attr(bs[0], "id"); !ok || v != "x" {
		t.Fatalf("Attr id = %q, %v", v, ok)
	}
	if _, ok := Attr(bs[1], "id"); ok || HasClass(bs[1], "a") {
		t.Fatal("span has no id and no class a")
	}
}
