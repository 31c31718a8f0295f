package hub

import (
	"syscall"
	"unsafe"
)

// flushNonBlocking writes what is pending without ever parking; leftovers
// go back to the front of the queue for the blocking path.
func (c *Conn) flushNonBlocking(batch [][]byte, iov []syscall.Iovec) ([][]byte, []syscall.Iovec) {
	for {
		var ok bool
		if batch, ok = c.nextBatch(batch); !ok {
			return batch, iov
		}

		var written int
		var err error
		iov = iov[:0]
		for _, b := range batch {
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
		if cerr := c.raw.Write(func(fd uintptr) bool {
			written, err = writev(fd, iov)
			return true // one attempt; never park
		}); cerr != nil {
			err = cerr
		}
		clear(iov)
		if written == batchBytes(batch) {
			c.countOut(batch)
			clear(batch)
			continue
		}
		if err != nil && err != syscall.EAGAIN && err != syscall.EINTR {
			clear(batch)
			c.writeFailed()
			return batch, iov
		}
		// The socket buffer is full: requeue the unwritten rest in front of
		// anything queued meanwhile and let a blocking flush finish it.
		rest := remainder(batch, written)
		c.wmu.Lock()
		c.pending = append(rest, c.pending...)
		c.pendingBytes += batchBytes(rest)
		c.wmu.Unlock()
		clear(batch)
		go c.flush()
		return batch, iov
	}
}

// remainder returns the frames (or frame tails) after the first n bytes.
func remainder(batch [][]byte, n int) [][]byte {
	var rest [][]byte
	for _, b := range batch {
		switch {
		case n >= len(b):
			n -= len(b)
		case n > 0:
			rest = append(rest, b[n:])
			n = 0
		default:
			rest = append(rest, b)
		}
	}
	return rest
}

func writev(fd uintptr, iov []syscall.Iovec) (int, error) {
	n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
