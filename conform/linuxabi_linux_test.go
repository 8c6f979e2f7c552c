package conform

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestLinuxABI: the Linux values conform writes out are the kernel
// headers' (x/sys/unix's, on Linux).
func TestLinuxABI(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"F_GETFL", linuxFGetFL, unix.F_GETFL},
		{"F_SETFL", linuxFSetFL, unix.F_SETFL},
		{"O_RDONLY", linuxORdOnly, unix.O_RDONLY},
		{"O_WRONLY", linuxOWrOnly, unix.O_WRONLY},
		{"O_RDWR", linuxORdWr, unix.O_RDWR},
		{"O_NONBLOCK", linuxONonblock, unix.O_NONBLOCK},
	} {
		if c.got != c.want {
			t.Errorf("%s is %#x here, %#x in x/sys/unix", c.name, c.got, c.want)
		}
	}
}
