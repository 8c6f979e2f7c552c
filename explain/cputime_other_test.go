//go:build !unix

package explain

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
