package main

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/alecthomas/kong"
)

// rawStrings is a kong option that keeps every string argument, flag
// value and environment value exactly as the operating system gave it.
// kong's own string mapper copies values through encoding/json, which
// turns bytes that are not UTF-8 into U+FFFD: "qxfer pull h:f $'out\xff'"
// then wrote into a directory named "out\uFFFD" (issue 13, class 4).
// Command-line paths are bytes; only names that cross the wire must be
// UTF-8, and the session refuses the others by name.
func rawStrings() kong.Option {
	return kong.KindMapper(reflect.String, kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
		t, err := ctx.Scan.PopValue("string")
		if err != nil {
			return err
		}
		if s, ok := t.Value.(string); ok {
			target.SetString(s)
			return nil
		}
		// A value from a resolver (the configuration file) may be a
		// number or a boolean: convert it as kong does.
		b, err := json.Marshal(t.Value)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, target.Addr().Interface()); err != nil {
			return fmt.Errorf("%v: %w", t.Value, err)
		}
		return nil
	}))
}
