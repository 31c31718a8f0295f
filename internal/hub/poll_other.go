//go:build !linux

package hub

import "syscall"

// poller is Linux-only; elsewhere every connection has a reader goroutine.
type poller struct{}

func newPoller() (*poller, error) { return nil, nil }

func (p *poller) prepare(*Conn) bool { return false }
func (p *poller) arm(*Conn) error    { return nil }
func (p *poller) remove(*Conn)       {}
func (p *poller) stop()              {}
func (c *Conn) onReadable()          {}

// flushNonBlocking is never reached without a poller (raw is nil).
func (c *Conn) flushNonBlocking(batch [][]byte, iov []syscall.Iovec) ([][]byte, []syscall.Iovec) {
	c.flush()
	return batch, iov
}
