//go:build !linux

package conform

import "errors"

// Kernel is the kernel backend's Opener; it needs Linux.
func Kernel(s *Script) (Backend, error) {
	return nil, errors.New("kernel backend: needs Linux")
}
