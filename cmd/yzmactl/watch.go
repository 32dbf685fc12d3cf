package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/yzma/yzma/node/client"
)

func newWatchCmd(g *globals) *cobra.Command {
	var prefix, since string
	var reconnect bool
	cmd := &cobra.Command{
		Use:   "watch [--prefix P] [--since CURSOR]",
		Short: "Print the node's changes to keys under a prefix as they are applied, one JSON object per line",
		Long: "Print every change the node applies to keys under --prefix, one JSON object per line, in the " +
			"order it applied them: Kind (put, delete; reset, state and synced when the node could not resume " +
			"from the cursor), Cursor, Key, Value (base64), Type, Siblings, Context. Pass a printed Cursor as " +
			"--since to resume right after it. With --reconnect it resumes from its last cursor when the " +
			"stream breaks, until interrupted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for {
				since, err = c.Watch(cmd.Context(), prefix, since, func(ev client.WatchEvent) error {
					return printJSONLine(out, ev)
				})
				if !reconnect || cmd.Context().Err() != nil {
					if errors.Is(err, cmd.Context().Err()) {
						return nil
					}
					return err
				}
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "yzmactl: watch: %v; resuming from %q\n", err, since)
				}
				select {
				case <-time.After(time.Second):
				case <-cmd.Context().Done():
					return nil
				}
			}
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "watch keys starting with this prefix (default: every key)")
	cmd.Flags().StringVar(&since, "since", "", "resume right after this cursor (default: from now)")
	cmd.Flags().BoolVar(&reconnect, "reconnect", false, "resume from the last cursor when the stream breaks")
	return cmd
}

// printJSONLine prints v as one line of JSON.
func printJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
