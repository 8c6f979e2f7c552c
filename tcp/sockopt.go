package tcp

// SetNoDelay turns Nagle's algorithm off (TCP_NODELAY) for this connection.
func (c *Conn) SetNoDelay(on bool) { c.noDelay = on }

// NoDelay reports whether Nagle's algorithm is off.
func (c *Conn) NoDelay() bool { return c.noDelay || c.cfg.NoDelay }
