// An off-the-shelf MessagePack-RPC client in Go: net/rpc with ugorji's
// codec.MsgpackSpecRpc, used unchanged. Built offline from Debian's
// golang-github-ugorji-go-codec-dev by tests/e2e/test_offtheshelf.py.
//
// Usage: go_msgpackrpc SOCKET [hello]
//   hello: first asks for string errors on this connection (hello's option);
//   without it the listener must be configured with errors: string.
// Prints one JSON line per step for the test to check.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/rpc"
	"os"

	"github.com/ugorji/go/codec"
)

func report(step string, result interface{}, err error) {
	out := map[string]interface{}{"step": step, "result": fmt.Sprint(result)}
	if err != nil {
		out["error"] = err.Error()
		if _, isServer := err.(rpc.ServerError); isServer {
			out["server_error"] = true
		}
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func main() {
	conn, err := net.Dial("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	var mh codec.MsgpackHandle
	mh.WriteExt = true // str as MessagePack str, not raw
	mh.RawToString = true
	client := rpc.NewClientWithCodec(codec.MsgpackSpecRpc.ClientCodec(conn, &mh))
	defer client.Close()

	if len(os.Args) > 2 && os.Args[2] == "hello" {
		var hello map[string]interface{}
		err = client.Call("hello", codec.MsgpackSpecRpcMultiArgs{"go-net-rpc", "1", map[string]string{"errors": "string"}}, &hello)
		report("hello", hello["errors"], err)
	}
	var f float64
	err = client.Call("math.sqrt", codec.MsgpackSpecRpcMultiArgs{16}, &f)
	report("sqrt", f, err)
	var s string
	err = client.Call("call", codec.MsgpackSpecRpcMultiArgs{"json", "dumps", []interface{}{map[string]int{"a": 1}}}, &s)
	report("dumps", s, err)
	var none interface{}
	err = client.Call("operator.truediv", codec.MsgpackSpecRpcMultiArgs{1, 0}, &none)
	report("error", none, err)
	err = client.Call("call", codec.MsgpackSpecRpcMultiArgs{"math", "sqrt", []int{1}, nil, map[string]string{"pool": "nope"}}, &none)
	report("daemon_error", none, err)
	err = client.Call("math.sqrt", codec.MsgpackSpecRpcMultiArgs{25}, &f)
	report("after", f, err)
	// many in flight on the one connection after the errors
	calls := make([]*rpc.Call, 100)
	results := make([]float64, 100)
	for i := range calls {
		calls[i] = client.Go("math.sqrt", codec.MsgpackSpecRpcMultiArgs{i * i}, &results[i], nil)
	}
	sum := 0.0
	for i, c := range calls {
		<-c.Done
		if c.Error != nil {
			report("pipelined", i, c.Error)
			os.Exit(1)
		}
		sum += results[i]
	}
	report("pipelined", sum, nil)
}
