package tcp

import "testing"

// TestSynWindowRmemDefault checks the window the handshake offers for
// tcp_rmem[1] (Config.RmemDefault), as tcp_select_initial_window does:
// half of it, rounded down to whole segments, then at most 65535.
func TestSynWindowRmemDefault(t *testing.T) {
	tests := []struct {
		name string
		rmem int // tcp_rmem[1]; 0 is Linux's 131072
		ts   bool
		want int
	}{
		{"default", 0, false, 64240},
		{"default, timestamps", 0, true, 65160},
		{"packetdrill's profile", 540000, false, 65535},
		{"packetdrill's profile, timestamps", 540000, true, 65535},
		{"small", 32768, false, 16060},
		{"small, timestamps", 32768, true, 15928},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.RmemDefault = tc.rmem
			cfg.RcvBuf = max(cfg.RcvBuf, tc.rmem/2)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := synWindowOf(&cfg, cfg.RcvBuf, tc.ts); got != tc.want {
				t.Errorf("synWindowOf = %d, want %d", got, tc.want)
			}
		})
	}
}
