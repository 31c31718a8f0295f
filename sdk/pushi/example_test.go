package pushi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pushi-io/pushi/sdk/pushi"
)

// A backend publishes an event and answers pusher-js's authorization request
// for a private channel.
func Example() {
	// Stands in for a pushi server; in production omit WithBaseURL to reach
	// http://127.0.0.1:8080, or pass the server's address.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("server got %s %s %s\n", r.Method, r.URL.Path, body)
		io.WriteString(w, "{}")
	}))
	defer srv.Close()

	client := pushi.New("3", "278d425bdf160c739803", "7ad3773142a6692b25b8", pushi.WithBaseURL(srv.URL))

	// Channel, data, event: the original pushi's trigger_event order.
	err := client.TriggerEvent(context.Background(), "news", map[string]int{"price": 42}, "update")
	fmt.Println("trigger error:", err)

	// In the endpoint pusher-js posts socket_id and channel_name to:
	auth, err := client.AuthorizeChannel("1234.1234", "private-foobar", nil)
	if err != nil {
		var invalid *pushi.ValidationError
		fmt.Println("refuse with 403:", errors.As(err, &invalid))
		return
	}
	fmt.Println(string(auth))

	// Output:
	// server got POST /apps/3/events {"name":"update","channels":["news"],"data":"{\"price\":42}"}
	// trigger error: <nil>
	// {"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}
}

// A presence channel carries the member's identity as channel_data.
func ExampleClient_AuthorizeChannel_presence() {
	client := pushi.New("3", "278d425bdf160c739803", "7ad3773142a6692b25b8")
	auth, _ := client.AuthorizeChannel("1234.1234", "presence-foobar",
		&pushi.Member{UserID: "10", UserInfo: map[string]string{"name": "Mr. Pusher"}})
	fmt.Println(string(auth))
	// Output:
	// {"auth":"278d425bdf160c739803:48dac51d2d7569e1e9c0f48c227d4b26f238fa68e5c0bb04222c966909c4f7c4","channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Pusher\"}}"}
}

// A webhook handler verifies the request before trusting its events.
func ExampleClient_VerifyWebhook() {
	client := pushi.New("3", "278d425bdf160c739803", "7ad3773142a6692b25b8")
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hook, err := client.VerifyWebhook(r.Header, body)
		if err != nil {
			http.Error(w, "invalid webhook", http.StatusUnauthorized)
			return
		}
		for _, e := range hook.Events {
			fmt.Println(e.Name, e.Channel)
		}
	}

	req := httptest.NewRequest("POST", "/webhooks",
		strings.NewReader(`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`))
	req.Header.Set("X-Pusher-Key", "278d425bdf160c739803")
	req.Header.Set("X-Pusher-Signature", "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa")
	handler(httptest.NewRecorder(), req)
	// Output:
	// channel_occupied test_channel
}
