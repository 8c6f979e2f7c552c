package seq

import "testing"

func TestCompareAcrossWrap(t *testing.T) {
	tests := []struct {
		a, b       Value
		lt, le, gt bool
	}{
		{1, 2, true, true, false},
		{2, 1, false, false, true},
		{5, 5, false, true, false},
		{0xffffffff, 0, true, true, false},
		{0, 0xffffffff, false, false, true},
		{0xfffffff0, 0x10, true, true, false},
		{0x7fffffff, 0, false, false, true},
	}
	for _, tt := range tests {
		if got := tt.a.LessThan(tt.b); got != tt.lt {
			t.Errorf("%#x.LessThan(%#x) = %v, want %v", tt.a, tt.b, got, tt.lt)
		}
		if got := tt.a.LessEq(tt.b); got != tt.le {
			t.Errorf("%#x.LessEq(%#x) = %v, want %v", tt.a, tt.b, got, tt.le)
		}
		if got := tt.a.GreaterThan(tt.b); got != tt.gt {
			t.Errorf("%#x.GreaterThan(%#x) = %v, want %v", tt.a, tt.b, got, tt.gt)
		}
		if got := tt.a.GreaterEq(tt.b); got != !tt.lt {
			t.Errorf("%#x.GreaterEq(%#x) = %v, want %v", tt.a, tt.b, got, !tt.lt)
		}
	}
}

func TestAddSubWindow(t *testing.T) {
	v := Value(0xfffffffe)
	w := v.Add(4)
	if w != 2 {
		t.Fatalf("Add across wrap = %#x, want 2", w)
	}
	if d := w.Sub(v); d != 4 {
		t.Fatalf("Sub across wrap = %d, want 4", d)
	}
	tests := []struct {
		v, first Value
		size     Size
		in       bool
	}{
		{0, 0xfffffffe, 4, true},
		{1, 0xfffffffe, 4, true},
		{2, 0xfffffffe, 4, false},
		{0xfffffffd, 0xfffffffe, 4, false},
		{10, 10, 0, false},
	}
	for _, tt := range tests {
		if got := tt.v.InWindow(tt.first, tt.size); got != tt.in {
			t.Errorf("%#x.InWindow(%#x,%d) = %v, want %v", tt.v, tt.first, tt.size, got, tt.in)
		}
	}
	if !Value(3).InRange(0xffffffff, 4) || Value(4).InRange(0xffffffff, 4) {
		t.Error("InRange across wrap")
	}
	if Max(0xffffffff, 1) != 1 || Min(0xffffffff, 1) != 0xffffffff {
		t.Error("Max/Min across wrap")
	}
}
