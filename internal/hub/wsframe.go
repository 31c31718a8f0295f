package hub

import "encoding/binary"

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// frameHeaderLen is the size of an unmasked server frame header.
func frameHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// appendFrameHeader writes a final, unmasked frame header: server frames are
// never masked, so one encoded frame can be shared by every recipient.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n <= 125:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, 0, 0)
		binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(n))
	}
	return dst
}

// textFrame wraps a JSON payload into a complete WebSocket text frame.
func textFrame(payload []byte) []byte {
	b := make([]byte, 0, frameHeaderLen(len(payload))+len(payload))
	b = appendFrameHeader(b, opText, len(payload))
	return append(b, payload...)
}

func controlFrame(op byte, payload []byte) []byte {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	b := make([]byte, 0, 2+len(payload))
	b = appendFrameHeader(b, op, len(payload))
	return append(b, payload...)
}

func closeFrame(code int, reason string) []byte {
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	p = append(p, reason...)
	return controlFrame(opClose, p)
}
