package gitsync

import (
	"strings"
	"testing"
	"time"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMaySync(t *testing.T) {
	// 2026-03-02 is a Monday
	nightly := Window{Kind: Allow, Schedule: "0 22 * * *", Duration: 2 * time.Hour} // 22:00-24:00 UTC
	nightlyManual := Window{Kind: Allow, Schedule: "0 22 * * *", Duration: 2 * time.Hour, ManualSync: true}
	officeDeny := Window{Kind: Deny, Schedule: "0 9 * * 1-5", Duration: 8 * time.Hour} // weekdays 09-17
	officeDenyManual := Window{Kind: Deny, Schedule: "0 9 * * 1-5", Duration: 8 * time.Hour, ManualSync: true}
	freeze := Window{Kind: Deny, Schedule: "0 0 * * *", Duration: 24 * time.Hour}                        // all day, every day
	berlin := Window{Kind: Allow, Schedule: "0 9 * * *", Duration: time.Hour, TimeZone: "Europe/Berlin"} // 09-10 Berlin
	newYork := Window{Kind: Deny, Schedule: "30 1 * * *", Duration: 2 * time.Hour, TimeZone: "America/New_York"}
	friday := Window{Kind: Deny, Schedule: "0 15 * * 5", Duration: 64 * time.Hour} // Friday 15:00 to Monday 07:00

	for _, tc := range []struct {
		name    string
		windows []Window
		at      string
		auto    bool // may an automatic sync run?
		manual  bool // may a manual one?
	}{
		{"no windows: always", nil, "2026-03-02T12:00:00Z", true, true},
		{"inside an allow window", []Window{nightly}, "2026-03-02T22:30:00Z", true, true},
		{"allow window starts exactly now", []Window{nightly}, "2026-03-02T22:00:00Z", true, true},
		{"allow window ended exactly now", []Window{nightly}, "2026-03-03T00:00:00Z", false, false},
		{"outside the only allow window", []Window{nightly}, "2026-03-02T12:00:00Z", false, false},
		{"outside an allow window with manualSync", []Window{nightlyManual}, "2026-03-02T12:00:00Z", false, true},
		{"inactive deny only: always", []Window{officeDeny}, "2026-03-02T20:00:00Z", true, true},
		{"deny active", []Window{officeDeny}, "2026-03-02T10:00:00Z", false, false},
		{"deny active, manualSync", []Window{officeDenyManual}, "2026-03-02T10:00:00Z", false, true},
		{"deny on a weekday only: Sunday is free", []Window{officeDeny}, "2026-03-01T10:00:00Z", true, true},
		{"deny wins over an active allow", []Window{{Kind: Allow, Schedule: "0 0 * * *", Duration: 24 * time.Hour}, officeDeny},
			"2026-03-02T10:00:00Z", false, false},
		{"deny with manualSync wins over allow for auto", []Window{{Kind: Allow, Schedule: "0 0 * * *", Duration: 24 * time.Hour},
			officeDenyManual}, "2026-03-02T10:00:00Z", false, true},
		{"two active denies, one without manualSync", []Window{officeDenyManual, freeze}, "2026-03-02T10:00:00Z", false, false},
		{"allow plus inactive deny", []Window{nightly, officeDeny}, "2026-03-02T23:00:00Z", true, true},
		{"two allows, the second active", []Window{nightly, {Kind: Allow, Schedule: "0 6 * * *", Duration: time.Hour}},
			"2026-03-02T06:59:59Z", true, true},
		{"manualSync of another allow window counts", []Window{nightly, {Kind: Allow, Schedule: "0 6 * * *",
			Duration: time.Hour, ManualSync: true}}, "2026-03-02T12:00:00Z", false, true},
		{"a window running past midnight", []Window{nightly}, "2026-03-02T23:59:59Z", true, true},
		{"a window longer than a day, from Friday", []Window{friday}, "2026-03-08T20:00:00Z", false, false},
		{"... ended Monday 07:00", []Window{friday}, "2026-03-09T07:00:00Z", true, true},
		{"Berlin 09:00 in winter is 08:00 UTC", []Window{berlin}, "2026-01-15T08:30:00Z", true, true},
		{"Berlin window in UTC terms is closed at 09:30 UTC in winter", []Window{berlin}, "2026-01-15T09:30:00Z", false, false},
		{"Berlin 09:00 in summer is 07:00 UTC", []Window{berlin}, "2026-07-15T07:30:00Z", true, true},
		{"the time's own zone does not matter", []Window{berlin}, "2026-07-15T03:30:00-04:00", true, true},
		// 2026-03-08 is the US switch to summer time: 01:30 EST exists, the window runs 2h of real time
		{"New York deny across the DST switch", []Window{newYork}, "2026-03-08T08:00:00Z", false, false}, // 04:00 EDT, 06:30 UTC + 2h
		{"... and after it", []Window{newYork}, "2026-03-08T08:31:00Z", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			when := at(t, tc.at)
			auto, err := MaySync(tc.windows, when, false)
			if err != nil {
				t.Fatal(err)
			}
			manual, err := MaySync(tc.windows, when, true)
			if err != nil {
				t.Fatal(err)
			}
			if auto != tc.auto || manual != tc.manual {
				t.Fatalf("auto %v manual %v, want auto %v manual %v", auto, manual, tc.auto, tc.manual)
			}
		})
	}
}

func TestWindowValidate(t *testing.T) {
	for _, tc := range []struct {
		w    Window
		want string
	}{
		{Window{Kind: "maybe", Schedule: "* * * * *", Duration: time.Hour}, `kind: "maybe" is neither allow nor deny`},
		{Window{Kind: Allow, Schedule: "* * * * *"}, "duration: must be positive"},
		{Window{Kind: Allow, Schedule: "61 * * * *", Duration: time.Hour}, `schedule: cron "61 * * * *"`},
		{Window{Kind: Allow, Schedule: "* * * *", Duration: time.Hour}, "schedule: cron"},
		{Window{Kind: Deny, Schedule: "@daily", Duration: time.Hour, TimeZone: "Mars/Olympus"}, `schedule: time zone "Mars/Olympus"`},
	} {
		err := tc.w.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.w, err, tc.want)
		}
		if _, err := MaySync([]Window{{Kind: Allow, Schedule: "@daily", Duration: time.Hour}, tc.w}, time.Now(), true); err == nil ||
			!strings.Contains(err.Error(), "sync window 2") {
			t.Errorf("MaySync with %+v: %v", tc.w, err)
		}
	}
	if err := (Window{Kind: Deny, Schedule: "@weekly", Duration: time.Hour, TimeZone: "Asia/Tokyo"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
