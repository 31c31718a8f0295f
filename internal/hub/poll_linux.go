package hub

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
)

// poller watches idle connections with one epoll instance instead of one
// blocked goroutine each: a connection costs no goroutine stack and no read
// buffer until data arrives. Each readable event runs on a short-lived
// goroutine; EPOLLONESHOT guarantees one handler per connection at a time.
type poller struct {
	epfd   int
	wake   [2]int   // pipe registered under poll id 0: writing to it stops loop
	conns  sync.Map // poll id → *Conn
	nextID atomic.Uint64
	done   chan struct{}
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: fd, done: make(chan struct{})}
	// Closing an epoll fd does not wake a blocked epoll_wait, so stop
	// is signalled through a pipe watched like any connection.
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		syscall.Close(fd)
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
		return nil, err
	}
	go p.loop()
	return p, nil
}

// stop ends the loop and releases the epoll and pipe fds. Connections
// still registered are the caller's to close.
func (p *poller) stop() {
	syscall.Write(p.wake[1], []byte{0})
	<-p.done
}

// prepare readies c for poll mode; false means c needs a reader goroutine
// (TLS and other wrapped connections). It runs before c is visible to any
// other goroutine, so raw and pollID are never written concurrently.
func (p *poller) prepare(c *Conn) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	c.raw = raw
	c.pollID = p.nextID.Add(1)
	return true
}

// arm starts watching a prepared connection.
func (p *poller) arm(c *Conn) error {
	p.conns.Store(c.pollID, c)
	if err := p.ctl(c, syscall.EPOLL_CTL_ADD); err != nil {
		p.conns.Delete(c.pollID)
		return err
	}
	return nil
}

func (p *poller) ctl(c *Conn, op int) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(c.pollID), Pad: int32(c.pollID >> 32)}
	var err error
	cerr := c.raw.Control(func(fd uintptr) { err = syscall.EpollCtl(p.epfd, op, int(fd), &ev) })
	return errors.Join(cerr, err)
}

func (p *poller) remove(c *Conn) {
	p.conns.Delete(c.pollID)
	c.raw.Control(func(fd uintptr) { syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
}

func (p *poller) loop() {
	defer func() {
		syscall.Close(p.epfd)
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
		close(p.done)
	}()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			panic("epoll_wait: " + err.Error())
		}
		for i := 0; i < n; i++ {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if id == 0 {
				return
			}
			if v, ok := p.conns.Load(id); ok {
				go v.(*Conn).onReadable()
			}
		}
	}
}

// readBuffers are shared by all connections: a buffer is held only while
// a readable connection is being read.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// onReadable reads what the socket has without blocking, processes it,
// and re-arms the connection, or tears it down on EOF or error.
func (c *Conn) onReadable() {
	bp := readBuffers.Get().(*[]byte)
	buf := *bp
	for {
		var n int
		var rerr error
		if err := c.raw.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), buf)
			return true // one attempt; never park in Go's poller
		}); err != nil {
			rerr = err
		}
		if n > 0 {
			if !c.consume(buf[:n]) {
				readBuffers.Put(bp)
				c.teardown()
				return
			}
			if n == len(buf) {
				continue // there may be more
			}
			break
		}
		if errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR) {
			break
		}
		readBuffers.Put(bp) // n == 0: EOF; or a hard error
		c.teardown()
		return
	}
	readBuffers.Put(bp)
	if c.torndown.Load() {
		return
	}
	if err := c.node.poll.ctl(c, syscall.EPOLL_CTL_MOD); err != nil {
		c.teardown()
	}
}
