package hlc

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	now := func() time.Time { return wall }
	tests := []struct {
		name string
		step func(c *Clock) Timestamp
		want Timestamp
	}{
		{"wall ahead", func(c *Clock) Timestamp { return c.Now() }, FromTime(wall)},
		{"same millisecond ticks logically", func(c *Clock) Timestamp { c.Now(); return c.Now() }, FromTime(wall) + 1},
		{"wall behind last", func(c *Clock) Timestamp { c.Observe(FromTime(wall.Add(time.Hour))); return c.Now() }, FromTime(wall.Add(time.Hour)) + 1},
		{"observe older is ignored", func(c *Clock) Timestamp { c.Observe(5); return c.Now() }, FromTime(wall)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.step(NewClock(now, 0)); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClockSurvivesRestartWithClockBehind(t *testing.T) {
	persisted := FromTime(time.Now().Add(time.Hour))
	c := NewClock(nil, persisted)
	if got := c.Now(); got <= persisted {
		t.Fatalf("Now() = %v, want > %v", got, persisted)
	}
	if c.Now().Time().IsZero() {
		t.Fatal("zero time")
	}
}
