package explain

import (
	"bytes"
	"image/png"
	"os"
	"strings"
	"testing"
)

// TestDocsPicture: README.md's "Explain a capture" shows
// docs/explain-real.png, the HTML page of a connection from the curl
// workload's capture (TestCurlWorkload with -explain.curlpcap, then
// tcpwave explain --conn N --html, screenshotted in headless Chromium),
// a PNG under 300 KB.
func TestDocsPicture(t *testing.T) {
	const rel = "docs/explain-real.png"
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "("+rel+")") {
		t.Errorf("README.md does not show %s", rel)
	}
	b, err := os.ReadFile("../" + rel)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 300<<10 {
		t.Errorf("%s is %d KB, want under 300 KB", rel, len(b)>>10)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if r := img.Bounds(); r.Dx() < 1000 || r.Dy() < 600 {
		t.Errorf("%s is %dx%d, want a page at least 1000x600", rel, r.Dx(), r.Dy())
	}
}
