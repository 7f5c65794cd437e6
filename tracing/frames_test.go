package tracing

import "testing"

func TestFrameMode(t *testing.T) {
	for _, s := range []string{"none", "control", "all"} {
		m, err := ParseFrameMode(s)
		if err != nil || m.String() != s {
			t.Errorf("%s: %v %v", s, m, err)
		}
	}
	if _, err := ParseFrameMode("some"); err == nil {
		t.Error("bad mode accepted")
	}
	if FramesControl.Records(1) || !FramesControl.Records(9) || FramesNone.Records(8) || !FramesAll.Records(0) {
		t.Error("Records")
	}
}

func TestFrameFlags(t *testing.T) {
	for _, tc := range []struct {
		fin, rsv1, rsv2, rsv3, masked bool
		want                          string
	}{
		{false, false, false, false, false, ""},
		{true, false, false, false, true, "fin masked"},
		{true, true, false, false, false, "fin rsv1"},
		{false, false, true, true, true, "rsv2 rsv3 masked"},
		{true, true, true, true, true, "fin rsv1 rsv2 rsv3 masked"},
	} {
		if got := FrameFlags(tc.fin, tc.rsv1, tc.rsv2, tc.rsv3, tc.masked); got != tc.want {
			t.Errorf("%+v: %q", tc, got)
		}
	}
}
