package conform

// Linux's values of the fcntl(2) commands and file status flags that
// scripts use. They are Linux's on every host: a script speaks Linux's
// ABI, and the tcpwave backend plays Linux wherever it runs (so these are
// not golang.org/x/sys/unix's constants, which are the host's). On Linux,
// TestLinuxABI checks them against x/sys/unix.
const (
	linuxFGetFL    = 3     // F_GETFL, <asm-generic/fcntl.h>
	linuxFSetFL    = 4     // F_SETFL
	linuxORdOnly   = 0     // O_RDONLY
	linuxOWrOnly   = 1     // O_WRONLY
	linuxORdWr     = 2     // O_RDWR
	linuxONonblock = 0x800 // O_NONBLOCK (x86, arm64; 04000 octal)
)
