package protocol

// Close and error codes (docs/protocol.md §4).
const (
	CodeUnknownApp       = 4001
	CodeAppDisabled      = 4003
	CodeOverQuota        = 4004
	CodeUnknownPath      = 4005
	CodeBadProtocol      = 4007
	CodeNoProtocol       = 4008
	CodeUnauthorized     = 4009
	CodeOverCapacity     = 4100
	CodeReconnectNow     = 4200
	CodePongTimeout      = 4201
	CodeClientEventRate  = 4301
	CodeWatchlistTooLong = 4302

	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseMessageTooBig   = 1009
)
