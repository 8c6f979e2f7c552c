//go:build linux

package tun

import (
	"errors"
	"net/netip"
)

// Runner runs a function on an OS thread inside a network namespace and
// returns its error. *netns.NS (package internal/netns) is one.
type Runner interface {
	Run(fn func() error) error
}

// Config describes the device Setup makes.
type Config struct {
	// Name is the device's name; empty lets the kernel pick one.
	Name string
	// MTU is the device's MTU; 0 means DefaultMTU.
	MTU int
	// Kernel holds the kernel side's addresses, each with the prefix
	// the kernel then routes into the device (for example 10.9.0.1/24,
	// so that packets for 10.9.0.2 reach the reader of the device).
	Kernel []netip.Prefix
	// Offload opens the device with offload (OpenOffload): TCP
	// super-packets and partial checksums both ways. A kernel that
	// refuses makes Setup fail with an error that wraps ErrNoOffload.
	Offload bool
	// QueueLen is the device's transmit queue length (txqueuelen): how
	// many packets the kernel keeps for the reader before it drops them;
	// 0 means DefaultQueueLen, below 0 the kernel's own (500).
	QueueLen int
	// WriteOnlyGSO, with Offload, keeps super-packets one way: WriteGSO
	// hands the kernel TCP super-packets, but the kernel segments what it
	// sends into the device itself (checksum offload only, no TSO towards
	// the reader), so that ReadPacket returns packets of at most MTU bytes.
	WriteOnlyGSO bool
}

// Setup opens a TUN device inside the namespace that ns runs functions
// in (the calling thread's, if ns is nil), brings it up with c.MTU, and
// gives the kernel side each address in c.Kernel, without duplicate
// address detection. On error nothing is left open.
func Setup(ns Runner, c Config) (*Device, error) {
	var d *Device
	mk := func() error {
		var err error
		d, err = open(c.Name, c.MTU, c.Offload, c.Offload && c.WriteOnlyGSO)
		return err
	}
	var err error
	if ns == nil {
		err = mk()
	} else {
		err = ns.Run(mk)
	}
	if err != nil {
		if d != nil {
			err = errors.Join(err, d.Close())
		}
		return nil, err
	}
	if q := c.QueueLen; q >= 0 {
		if q == 0 {
			q = DefaultQueueLen
		}
		if err := d.SetQueueLen(q); err != nil {
			return nil, errors.Join(err, d.Close())
		}
	}
	for _, p := range c.Kernel {
		if err := d.AddAddress(p); err != nil {
			return nil, errors.Join(err, d.Close())
		}
	}
	return d, nil
}
