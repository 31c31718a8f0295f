package presence_test

import (
	"testing"

	"github.com/pushi-io/pushi/internal/presence"
	"github.com/pushi-io/pushi/internal/presence/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) presence.Store { return presence.NewMemory() })
}
