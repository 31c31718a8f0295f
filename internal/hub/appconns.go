package hub

// CloseApp closes every local connection of appID with code (4001 when the
// app is deleted, 4003 when it is disabled). Call it after the registry
// change, so that reconnects are refused. Only this node's connections are
// closed: pushi runs one node for now, and a cluster would have to fan the
// request out through the broker as TerminateUser does.
func (n *Node) CloseApp(appID string, code int, message string) {
	n.conns.Range(func(k, _ any) bool {
		if c := k.(*Conn); c.app.ID == appID {
			c.closeWith(code, message)
		}
		return true
	})
}
