//go:build !linux

package hub

// poller is Linux-only; elsewhere every connection has a reader goroutine.
type poller struct{}

func newPoller() (*poller, error) { return nil, nil }

func (p *poller) add(*Conn) bool { return false }
func (p *poller) remove(*Conn)   {}
func (c *Conn) onReadable()      {}
