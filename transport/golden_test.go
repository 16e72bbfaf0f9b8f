package transport

import (
	"encoding/hex"
	"reflect"
	"testing"
)

// TestGoldenExtra checks packets the slacker vectors don't cover, with bytes
// written out by hand from PROTOCOL.md's tables.
func TestGoldenExtra(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		p    Packet
	}{
		{"inspect-ack", "060000000808" + "0007" + hex.EncodeToString([]byte(`["a/b"]`)),
			Packet{Version: V6, TID: 8, Type: TypeInspectAck, Body: []byte(`["a/b"]`)}},
		{"auth-req", "060000000105" + "0006" + hex.EncodeToString([]byte("secret")),
			Packet{Version: V6, TID: 1, Type: TypeAuthReq, Token: "secret"}},
		{"auth-ack reject", "06000000010601",
			Packet{Version: V6, TID: 1, Type: TypeAuthAck, AuthResult: AuthReject}},
		{"v6 msgpack request", "060000000900" + "10" + "0005" + hex.EncodeToString([]byte("m/add")) + "00000003" + "920102" + "00",
			Packet{Version: V6, TID: 9, Type: TypeRequest, ContentType: ContentMsgpack, Name: "m/add", Body: []byte{0x92, 1, 2}}},
		{"v5 exception response", "050000000201" + "01" + "0c" + "00000003" + "227822",
			Packet{Version: V5, TID: 2, Type: TypeResponse, ContentType: ContentJSON, Code: CodeException, Body: []byte(`"x"`)}},
		{"v5 error canceled", "0500000003040e",
			Packet{Version: V5, TID: 3, Type: TypeError, Code: CodeCanceled}},
		{"v6 response with two extensions", "060000000401" + "10" + "00" + "00000001" + "03" + "02" + "ffff" + "0001" + "2a" + "0007" + "0002" + "a178",
			Packet{Version: V6, TID: 4, Type: TypeResponse, ContentType: ContentMsgpack, Body: []byte{3},
				Extensions: []Extension{{ID: -1, Value: []byte{0x2a}}, {ID: 7, Value: []byte{0xa1, 'x'}}}}},
		{"v5 inspect-req meta", "05000000050701" + "0005" + hex.EncodeToString([]byte(`"a/b"`)),
			Packet{Version: V5, TID: 5, Type: TypeInspectReq, Command: InspectMeta, Body: []byte(`"a/b"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeOne(t, want, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.p) {
				t.Errorf("decoded %+v\nwant    %+v", got, tt.p)
			}
			if b := mustAppend(t, &tt.p); hex.EncodeToString(b) != hex.EncodeToString(want) {
				t.Errorf("encoded %x\nwant    %x", b, want)
			}
		})
	}
}
