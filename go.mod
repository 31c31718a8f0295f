module github.com/pushi-io/pushi

go 1.26.8

require (
	github.com/gobwas/ws v1.5.0
	github.com/pusher/pusher-http-go/v5 v5.1.1
	golang.org/x/crypto v0.0.0-20200709230013-948cd5f35899
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	golang.org/x/sys v0.0.0-20190412213103-97732733099d // indirect
)
