package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string such
// as "10s", "1m30s" or "2h" (time.ParseDuration).
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string, which UnmarshalJSON reads back
// to the same value.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string; null leaves d unchanged. A number
// is refused: it would be ambiguous (nanoseconds? seconds?).
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		// A type error gets the field's name from the decoder.
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%.40s (want a string such as \"10s\")", b),
			Type: reflect.TypeFor[Duration]()}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%.40q (%v)", s, err), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}

// parseDuration reads a duration from the environment variable name.
func parseDuration(name, v string) (Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: want a duration such as \"10s\": %w", name, err)
	}
	return Duration(d), nil
}
